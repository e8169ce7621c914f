// device-api-bench's main: parses flags, runs the scenarios in order,
// prints the table (or JSON lines), and returns the exit code: 0 when every
// result ran without errors, 1 when any had errors or was unavailable for a
// reason other than a missing optional input, 2 for bad flags.
#pragma once

namespace deviceapi::bench {

int RunBench(int argc, char** argv);

}  // namespace deviceapi::bench
