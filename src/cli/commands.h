/* The subcommands of the vlmtune CLI: each takes its own argv (argv[0] is the
 * command name) and returns 0, or -1 with the reason in vt_errmsg(). */
#ifndef VT_CLI_COMMANDS_H
#define VT_CLI_COMMANDS_H

typedef struct {
    const char *name;
    const char *help;
    int (*run)(int argc, char **argv);
} vt_command;

/* Exit status of a command that succeeded but wants a non-zero one (an interrupted, resumable run). */
extern int vt_cli_exit_status;

int cmd_version(int argc, char **argv);
int cmd_smoke(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_prepare(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_fuse(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_convert(int argc, char **argv);

#endif
