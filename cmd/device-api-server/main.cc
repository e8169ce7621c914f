// device-api-server: the node-local GPU device API (see src/server/server.h).
#include "server/server.h"

int main(int argc, char** argv) { return deviceapi::server::RunServer(argc, argv); }
