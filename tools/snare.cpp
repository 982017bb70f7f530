// The snare executable: everything lives in the cli module.
#include "cli/cli.h"

int main(int argc, char** argv) { return snare::cli::run(argc, argv); }
