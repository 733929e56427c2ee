/* SPDX-License-Identifier: MIT */
/*
 * The documentation of the public header:
 *   - every page in man/ renders with `man -l` (aliases included, which
 *     must therefore not be `.so` requests: man resolves those from the
 *     current directory) without a warning, and names itself in NAME;
 *   - every public macro of include/ustatic.h has a page that names it;
 *   - the README and the pages on keys, static calls and ustatic(7) say
 *     that a key or static call defined in the executable and used by a
 *     dlopen'd plugin needs the executable to export it, and that is
 *     true: a host (test/census/docs_host.c) built without -rdynamic
 *     cannot load its plugin (docs_plugin.c), built with -rdynamic or
 *     with --export-dynamic-symbol it can.
 * Runs from the top of the source tree, as every test does. About 5 s.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <dirent.h>
#include <unistd.h>

#include "helpers.h"
#include "test.h"

#define FMT(buf, ...)							\
	CHECK(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

static int failed;

#define EXPECT(cond, ...) do {						\
	if (!(cond)) {							\
		printf("FAIL: " __VA_ARGS__);				\
		printf("\n");						\
		failed++;						\
	}								\
} while (0)

static int defined_x86_64(void)
{
#ifdef __x86_64__
	return 1;
#else
	return 0;
#endif
}

static int have(const char *cmd)
{
	char line[128];

	FMT(line, "command -v %s >/dev/null 2>&1", cmd);
	return system(line) == 0;
}

/* Whether `word` occurs in `text` as a whole word (C identifier). */
static int has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; (p = strstr(p, word)); p++) {
		int before = p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
		int after = isalnum((unsigned char)p[n]) || p[n] == '_';

		if (!before && !after)
			return 1;
	}
	return 0;
}

/* Reads all of f into a malloc'd string. */
static char *slurp(FILE *f)
{
	size_t len = 0, cap = 4096;
	char *s = malloc(cap);
	size_t n;

	CHECK(s);
	while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 1024) {
			cap *= 2;
			s = realloc(s, cap);
			CHECK(s);
		}
	}
	s[len] = 0;
	return s;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;

	if (!f)
		return NULL;
	s = slurp(f);
	fclose(f);
	return s;
}

/*
 * The text of the NAME section of man/page as man renders it (plain,
 * 80 columns), or NULL if man failed or wrote anything on stderr.
 */
static char *man_name_section(const char *page, const char *errlog)
{
	char cmd[PATH_MAX + 256];
	char *out, *name, *end;
	FILE *f;
	long errs;

	FMT(cmd, "MANWIDTH=80 man -l man/%s 2>%s | sed 's/.\b//g'", page, errlog);
	f = popen(cmd, "r");
	CHECK(f);
	out = slurp(f);
	if (pclose(f) != 0) {
		free(out);
		return NULL;
	}
	f = fopen(errlog, "r");
	CHECK(f);
	fseek(f, 0, SEEK_END);
	errs = ftell(f);
	fclose(f);
	name = strstr(out, "\nNAME\n");
	if (errs > 0 || !name) {
		free(out);
		return NULL;
	}
	/* Up to the next heading: a line that starts with a letter. */
	for (end = name + 6; *end && !(end[0] == '\n' && isalpha((unsigned char)end[1])); end++)
		;
	*end = 0;
	memmove(out, name, strlen(name) + 1);
	return out;
}

/* The public macros of the header: defined there, not starting with an
 * underscore or USTATIC_ (configuration and attributes). */
static int header_macros(char names[][64], int max)
{
	FILE *f = fopen("include/ustatic.h", "r");
	char line[512];
	int n = 0;

	CHECK(f);
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		int dup = 0;

		if (sscanf(line, "#define %63[A-Za-z0-9_]", name) != 1 ||
		    name[0] == '_' || !strncmp(name, "USTATIC_", 8))
			continue;
		for (int i = 0; i < n; i++)
			dup |= !strcmp(names[i], name);
		if (dup)
			continue;
		CHECK(n < max);
		strcpy(names[n++], name);
	}
	fclose(f);
	return n;
}

static void check_pages(const char *dir)
{
	char errlog[PATH_MAX], names[128][64], page[80];
	struct dirent *e;
	DIR *d;
	int n, pages = 0;

	if (!have("man")) {
		printf("man is not installed: the pages are not rendered\n");
		return;
	}
	FMT(errlog, "%s/man.err", dir);
	d = opendir("man");
	CHECK(d);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char *sec, base[64];

		if (len < 3 || e->d_name[len - 2] != '.' ||
		    (e->d_name[len - 1] != '3' && e->d_name[len - 1] != '7'))
			continue;
		FMT(base, "%.*s", (int)(len - 2), e->d_name);
		sec = man_name_section(e->d_name, errlog);
		EXPECT(sec, "man -l man/%s fails or warns", e->d_name);
		if (sec)
			EXPECT(has_word(sec, base),
			       "man/%s: NAME does not list %s", e->d_name, base);
		free(sec);
		pages++;
	}
	closedir(d);
	printf("%d pages render\n", pages);

	n = header_macros(names, 128);
	for (int i = 0; i < n; i++) {
		char *sec;

		FMT(page, "%s.3", names[i]);
		sec = man_name_section(page, errlog);
		EXPECT(sec && has_word(sec, names[i]),
		       "%s has no page that lists it (man/%s)", names[i], page);
		free(sec);
	}
	printf("%d public macros checked\n", n);
}

/* The README and the pages say how a plugin reaches the host's keys. */
static void check_export_docs(void)
{
	static const char *const files[] = {
		"README.md", "man/ustatic.7", "man/DEFINE_STATIC_KEY_TRUE.3",
		"man/DEFINE_STATIC_CALL.3",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *s = read_file(files[i]), *to = s;

		CHECK(s);
		/* roff escapes its hyphens: \- */
		for (const char *from = s; *from; from++)
			if (*from != '\\')
				*to++ = *from;
		*to = 0;
		EXPECT(strstr(s, "rdynamic") && strstr(s, "export-dynamic-symbol"),
		       "%s does not say that a host exports keys for its "
		       "plugins (-rdynamic, --export-dynamic-symbol)", files[i]);
		free(s);
	}
}

/* Builds the host with `how`, runs it on the plugin: 0 if it printed ok,
 * 1 if dlopen said "undefined symbol" (glibc) or "symbol not found"
 * (musl), 2 otherwise. */
static int host(const char *cc, const char *how, const char *dir,
		const char *libdir, const char *generic, const char *log)
{
	char cmd[2 * PATH_MAX + 512];

	FMT(cmd, "%s -O2 -Wall -Wextra -Werror -Iinclude %s "
	    "test/census/docs_host.c %s -L%s -lustatic -ldl -Wl,-rpath,%s "
	    "-o %s/host >%s 2>&1", cc, generic, how, libdir, libdir, dir, log);
	if (system(cmd))
		return 2;
	FMT(cmd, "timeout 30 %s/host %s/plugin.so >%s 2>&1", dir, dir, log);
	if (system(cmd) == 0) {
		FMT(cmd, "grep -qx ok %s", log);
		return system(cmd) ? 2 : 0;
	}
	FMT(cmd, "grep -q 'undefined symbol\\|symbol not found' %s", log);
	return system(cmd) ? 2 : 1;
}

static void check_plugin(const char *dir, const char *libdir)
{
	const char *generic = T_PATCHES_CODE ? "" : "-DUSTATIC_GENERIC";
	static const struct {
		const char *how;
		int want;
	} hosts[] = {
		{ "", 1 },
		{ "-rdynamic", 0 },
		{ "-Wl,--export-dynamic-symbol=docs_key "
		  "-Wl,--export-dynamic-symbol='__SC[KU]__docs_call'", 0 },
	};
	char cmd[2 * PATH_MAX + 256], log[PATH_MAX], cc[64];
	const char *why;

	if (!defined_x86_64()) {
		printf("the plugin is built by the host compiler, for x86-64: skipped\n");
		return;
	}
	if ((why = t_cc("gcc", cc, sizeof(cc)))) {
		printf("gcc %s: the plugin is not built\n", why);
		return;
	}
	FMT(log, "%s/log", dir);
	FMT(cmd, "%s -O2 -fPIC -shared -Wall -Wextra -Werror -Iinclude %s "
	    "test/census/docs_plugin.c -o %s/plugin.so -L%s -lustatic "
	    "-Wl,-rpath,%s >%s 2>&1", cc, generic, dir, libdir, libdir, log);
	EXPECT(system(cmd) == 0, "the plugin does not build");
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		int r = host(cc, hosts[i].how, dir, libdir, generic, log);

		printf("host %-70s %s\n", *hosts[i].how ? hosts[i].how : "(exports nothing)",
		       r == 0 ? "loads the plugin" : r == 1 ?
		       "cannot load it (undefined symbol)" : "FAILED");
		EXPECT(r == hosts[i].want, "host %s", hosts[i].how);
		if (r != hosts[i].want) {
			FMT(cmd, "tail -n 8 %s | sed 's/^/    /'", log);
			CHECK(system(cmd) == 0);
		}
	}
}

int main(void)
{
	char dir[] = "/tmp/ustatic-docs-XXXXXX", libdir[PATH_MAX];
	char cmd[PATH_MAX + 16];

	test_beside_self(libdir, sizeof(libdir), "..");
	CHECK(mkdtemp(dir));
	check_pages(dir);
	check_export_docs();
	check_plugin(dir, libdir);
	FMT(cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	CHECK_EQ(failed, 0);
	return T_EXIT_PASS;
}
