/* importarr.c — portico import-arr (docs/import-arr.md): placeholder until it is written. */
#include <stdio.h>

#include "cli/cli.h"

int pc_cmd_import_arr(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("portico: import-arr is not implemented yet\n", stderr);
    return 1;
}
