/*
 * main.c: the entry point. Everything happens in cli_main. On Windows,
 * wmain in plat-win32.c converts the arguments to UTF-8 and calls main.
 */
#include "cli.h"

int
main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
