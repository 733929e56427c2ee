/* THROWAWAY: the contract's declarations until dyndbg-core's src/dyndbg.h arrives. */
#include <stddef.h>
typedef int (*us_emit_fn)(void *ctx, const char *line);
int us_dyndbg_query(const char *query, char *err, size_t errlen);
int us_dyndbg_list(us_emit_fn emit, void *ctx);
int us_names_list(us_emit_fn emit, void *ctx);
enum us_key_op { US_KEY_ENABLE, US_KEY_DISABLE, US_KEY_INC, US_KEY_DEC, US_KEY_COUNT };
int us_names_key_op(const char *name, enum us_key_op op, char *err, size_t errlen);
