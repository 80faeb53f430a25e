/* The CLI's subcommands that live in their own files. */
#ifndef WANC_TOOLS_COMMANDS_H
#define WANC_TOOLS_COMMANDS_H

int wanc_cmd_generate(int argc, char **argv);
int wanc_cmd_quantize(int argc, char **argv); /* quantize.c */
int wanc_cmd_demo(int argc, char **argv);       /* demo.c */
int wanc_cmd_demo_image(int argc, char **argv); /* generate.c: --i2v / --flf2v */
int wanc_cmd_train(int argc, char **argv);
int wanc_cmd_make_dataset(int argc, char **argv); /* make_dataset.c */

#endif
