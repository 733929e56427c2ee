/* SPDX-License-Identifier: MIT */
/*
 * static_call_update() refuses a target that is not in executable memory
 * with -EINVAL and changes nothing (before: it returned 0 and the next
 * call jumped into data). Data, heap, stack and a non-executable mapping
 * are refused; a function of the program, the library's NULL and RET0
 * targets, and code made at run time in an executable mapping are
 * accepted. Inside a transaction the refusal comes at once, too.
 * Black box: public header.
 */
#include <string.h>
#include <sys/mman.h>
#include <ustatic.h>

#include "test.h"

static int f0(void) { return 0; }
static int f1(void) { return 1; }

DEFINE_STATIC_CALL(sc, f0);

static int data_word = 42;

static __attribute__((noinline)) int call_sc(void)
{
	int r = static_call(sc)();

	__asm__ __volatile__("" : "+r"(r));
	return r;
}

typedef int fn_t(void);

static void refused(fn_t *bad)
{
	CHECK_EQ(static_call_update(sc, bad), -EINVAL);
	CHECK(static_call_query(sc) == f1);
	CHECK_EQ(call_sc(), 1);
}

int main(void)
{
	int on_stack = 0;
	void *heap = malloc(64);
	void *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(heap && rw != MAP_FAILED);
	CHECK_EQ(static_call_update(sc, f1), 0);
	refused((fn_t *)(void *)&data_word);
	refused((fn_t *)heap);
	refused((fn_t *)(void *)&on_stack);
	refused((fn_t *)rw);
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(sc, (fn_t *)heap), -EINVAL);
	CHECK_EQ(ustatic_batch_commit(), -EINVAL);	/* all or nothing */
	CHECK_EQ(call_sc(), 1);

#if defined(__x86_64__)
	/* Code made at run time: mov $7,%eax; ret, in an r-x mapping. */
	static const unsigned char code[] = { 0xb8, 7, 0, 0, 0, 0xc3 };

	memcpy(rw, code, sizeof(code));
	CHECK_EQ(mprotect(rw, 4096, PROT_READ | PROT_EXEC), 0);
	CHECK_EQ(static_call_update(sc, (fn_t *)rw), 0);
	CHECK_EQ(call_sc(), 7);
#endif
	CHECK_EQ(static_call_update(sc, (fn_t *)(void *)__static_call_return0), 0);
	CHECK_EQ(call_sc(), 0);
	CHECK_EQ(static_call_update(sc, NULL), 0);
	CHECK_EQ(static_call_update(sc, f0), 0);
	CHECK_EQ(call_sc(), 0);
	free(heap);
	return 0;
}
