/* SPDX-License-Identifier: MIT */
/*
 * Names recorded at definition: messages name keys, key-array elements
 * and static calls by them even where dladdr() cannot (a `static` key is
 * in no symbol table, -rdynamic or not); us_names_list() lists every
 * object's keys and static calls with state and target; us_names_key_op()
 * finds a key by NAME, MODULE:NAME or NAME[I], and refuses what is
 * unknown, a static call, an array without index, and a name that two
 * objects define (ambiguous), with nothing changed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ustatic.h>

#include "dd.h"
#include "debug.h"
#include "helpers.h"

static DEFINE_STATIC_KEY_FALSE(hidden_key);
DEFINE_STATIC_KEY_TRUE(t_on);
DEFINE_STATIC_KEY_ARRAY_FALSE(t_arr, 3);
/* static: the plugin's global dd_dup_key is not interposed by it */
static DEFINE_STATIC_KEY_FALSE(dd_dup_key);

int t_target(int x);
int t_target(int x)
{
	return x;
}
DEFINE_STATIC_CALL_HIDDEN(t_call, t_target);

static char *listing;

static int names(void)
{
	free(listing);
	listing = NULL;
	return us_names_list(dd_all_emit, &listing);
}

static void has(const char *line)
{
	char want[256];

	snprintf(want, sizeof(want), "%s\n", line);
	if (!listing || !strstr(listing, want)) {
		fprintf(stderr, "no line '%s' in:\n%s", line, listing);
		exit(T_EXIT_FAIL);
	}
}

static void op_fails(const char *name, enum us_key_op op, int err,
		     const char *says)
{
	char msg[256];
	int r = us_names_key_op(name, op, msg, sizeof(msg));

	printf("%-36s -> %d %s\n", name, r, msg);
	if (r != err || !strstr(msg, says)) {
		fprintf(stderr, "%s: %d '%s', want %d '%s'\n", name, r, msg,
			err, says);
		exit(T_EXIT_FAIL);
	}
}

int main(void)
{
	char buf[128], msg[256], path[PATH_MAX];
	void *h;

	dd_need_registry();
	/* Messages: by the recorded name. */
	CHECK(!strcmp(us_symbol(&hidden_key.key, buf, sizeof(buf)), "hidden_key"));
	CHECK(!strcmp(us_symbol(&t_arr[2].key, buf, sizeof(buf)), "t_arr[2]"));
	CHECK(!strcmp(us_symbol(&__SCK__t_call, buf, sizeof(buf)), "t_call"));
	printf("us_symbol(&hidden_key) = %s\n",
	       us_symbol(&hidden_key.key, buf, sizeof(buf)));

	/* The listing. */
	CHECK_EQ(names(), 0);
	printf("%s", listing);
	has("key names_list:hidden_key disabled count 0");
	has("key names_list:t_on enabled count 1");
	has("key names_list:t_arr[0] disabled count 0");
	has("key names_list:t_arr[2] disabled count 0");
	has("call names_list:t_call target t_target");
	CHECK_EQ(static_call_update(t_call, NULL), 0);
	CHECK_EQ(names(), 0);
	has("call names_list:t_call target ustatic_call_nop");

	/* Key operations. */
	CHECK_EQ(us_names_key_op("hidden_key", US_KEY_ENABLE, msg, sizeof(msg)), 0);
	CHECK_EQ(static_key_count(&hidden_key.key), 1);
	CHECK_EQ(us_names_key_op("names_list:hidden_key", US_KEY_INC, msg, sizeof(msg)), 0);
	CHECK_EQ(us_names_key_op("hidden_key", US_KEY_COUNT, msg, sizeof(msg)), 2);
	op_fails("hidden_key", US_KEY_DISABLE, -EBUSY, "hidden_key");
	CHECK_EQ(us_names_key_op("hidden_key", US_KEY_DEC, msg, sizeof(msg)), 0);
	CHECK_EQ(us_names_key_op("hidden_key", US_KEY_DISABLE, msg, sizeof(msg)), 0);
	CHECK_EQ(static_key_count(&hidden_key.key), 0);
	op_fails("hidden_key", US_KEY_DEC, -EINVAL, "hidden_key");
	CHECK_EQ(us_names_key_op("t_arr[1]", US_KEY_ENABLE, msg, sizeof(msg)), 0);
	CHECK(static_key_enabled(&t_arr[1]) && !static_key_enabled(&t_arr[0]));
	CHECK_EQ(names(), 0);
	has("key names_list:t_arr[1] enabled count 1");
	op_fails("t_arr", US_KEY_ENABLE, -EINVAL, "array of 3");
	op_fails("t_arr[3]", US_KEY_ENABLE, -EINVAL, "array of 3");
	op_fails("t_arr[x]", US_KEY_ENABLE, -EINVAL, "NAME[N]");
	op_fails("nope", US_KEY_ENABLE, -ENOENT, "no static key");
	op_fails("other:t_on", US_KEY_COUNT, -ENOENT, "no static key");
	op_fails("t_call", US_KEY_ENABLE, -EINVAL, "static call");
	op_fails(":t_on", US_KEY_COUNT, -EINVAL, "MODULE:NAME");

	/* A second object defining the same name. It takes the library from
	 * this executable: the archive's printing code must be linked in. */
	CHECK_EQ(ustatic_dyndbg_set_sink(NULL, NULL), 0);
	test_beside_self(path, sizeof(path), "libdd_plugin_bare.so");
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		fprintf(stderr, "%s\n", dlerror());
	CHECK(h);
	CHECK_EQ(names(), 0);
	has("key libdd_plugin_bare.so:dd_plugin_key disabled count 0");
	/* A static function: no symbol, so MODULE+0xOFF. */
	CHECK(strstr(listing, "call libdd_plugin_bare.so:dd_plugin_call target "
			      "libdd_plugin_bare.so+0x"));
	op_fails("dd_dup_key", US_KEY_ENABLE, -EINVAL, "ambiguous");
	CHECK_EQ(us_names_key_op("libdd_plugin_bare.so:dd_dup_key", US_KEY_ENABLE,
				 msg, sizeof(msg)), 0);
	CHECK_EQ(static_key_count(&dd_dup_key.key), 0);
	CHECK_EQ(us_names_key_op("names_list:dd_dup_key", US_KEY_COUNT, msg,
				 sizeof(msg)), 0);
	CHECK_EQ(us_names_key_op("libdd_plugin_bare.so:dd_dup_key", US_KEY_COUNT,
				 msg, sizeof(msg)), 1);
	puts("ok");
	return 0;
}
