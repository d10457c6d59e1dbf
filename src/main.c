/*
 * main.c: the entry point. Everything happens in cli_main, which a
 * Windows wmain can call too after converting the arguments to UTF-8.
 */
#include "cli.h"

int
main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
