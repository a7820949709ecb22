/* version: the co-process version string, shared by the CLI and the RPC `version`. */
#ifndef PYTESTMON_VERSION_H
#define PYTESTMON_VERSION_H
#define PYTESTMON_VERSION "0.1.0"
#endif
