// device-api-bench: see src/bench/runner.h and docs/benchmarks.md.
#include "bench/runner.h"

int main(int argc, char** argv) { return deviceapi::bench::RunBench(argc, argv); }
