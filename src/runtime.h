/* SPDX-License-Identifier: MIT */
/*
 * One runtime per process, however many copies of ustatic it holds: static
 * archives inside several shared objects, a static copy beside
 * libustatic.so, copies of different versions. They share what must be
 * one per process: the patching lock, the SIGTRAP handler chain and the
 * tables it reads, the sync signal's acknowledgements, the view of signal
 * masks. The first copy to start creates the runtime; every copy records
 * where it keeps its pointer to it in an ELF note (.note.ustatic), which
 * later copies find with dl_iterate_phdr(): no symbol is looked up, so
 * archives linked with --exclude-libs find each other too.
 *
 * This struct is the contract between copies: its layout is fixed by
 * US_RUNTIME_ABI. A change to anything in this file bumps it; a copy that
 * meets a runtime of another ABI refuses to patch (-EPROTO) rather than
 * guess. Each part has one owner file, which alone touches it.
 */
#ifndef USTATIC_RUNTIME_H
#define USTATIC_RUNTIME_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define US_RUNTIME_MAGIC 0x52545355u	/* "USTR" */
/* Overridden only by test/copies.c's foreign copy. */
#ifndef US_RUNTIME_ABI
#define US_RUNTIME_ABI 1
#endif

/* A lock with its owner's thread id (src/lock.c): a tid means the same
 * thread to every copy, where a thread-local address would not. */
struct us_lock {
	pthread_mutex_t mutex;
	pid_t owner;			/* 0: free */
	const char *name;
};

/* What the SIGTRAP handler needs of a batch entry: where, and what to
 * emulate (src/trap.c). */
struct us_pub_entry {
	uintptr_t addr;
	union {
		uint64_t word;
		uint8_t insn[8];
	};
};

/* Buffers the handler reads; n <= cap always, cap fixed per buffer.
 * `retired` links the buffer it replaced, kept (a late handler may still
 * read it) and reachable (leak checkers stay quiet); no handler reads it. */
struct us_pub_batch {
	void *retired;
	size_t cap, n;
	struct us_pub_entry e[];
};
struct us_pub_history {
	void *retired;
	size_t cap, n;
	uintptr_t addr[];		/* every address ever guarded by int3 */
};

typedef void us_sigaction_fn(int, siginfo_t *, void *);

/* src/trap.c. The tables are written under the engine lock between two
 * steps of `seq`; see trap.c for the handler's side. */
struct us_trap_state {
	struct us_pub_batch *batch, *kept;
	struct us_pub_history *history;
	unsigned long seq;
	pid_t writer_tid;
	/* The handler installed (one copy's), or NULL: installed with the
	 * first batch that places an int3. `previous` is the chain. */
	us_sigaction_fn *handler;
	struct sigaction previous;
	bool ignored;			/* SIGTRAP was SIG_IGN: never int3 */
	bool shadow_stack;
};

/* src/sync.c: the signal broadcast's round, acknowledged by whichever
 * copy's handler is installed. */
struct us_sync_state {
	int signal;			/* 0 until a handler is installed */
	us_sigaction_fn *handler;
	uint32_t round_tag;
	uint64_t round_acks;		/* tag << 32 | acknowledgements */
};

/* src/sigmask.c: the cached verdict on signal masks, under `lock` (a
 * leaf: planning asks under a registry lock, the engine under its own).
 * `epoch` (atomic) moves when a copy's wrappers let a mask block SIGTRAP
 * (src/interpose.c). */
struct us_mask_state {
	struct us_lock lock;
	unsigned long epoch;
	unsigned long checked_epoch;	/* of the verdict below */
	unsigned long checked_threads;	/* thread count then */
	long blocked_until;		/* CLOCK_MONOTONIC ns */
	bool checked, blocked;
};

struct us_runtime {
	uint32_t magic, abi;
	pid_t creator_pid;		/* for messages */
	struct us_lock engine_lock;	/* src/lock.c */
	pthread_key_t inside_key;	/* src/lock.c: a thread inside a call */
	bool inside_key_ok;
	struct us_trap_state trap;
	struct us_sync_state sync;
	struct us_mask_state masks;
};

/* The process's runtime, set before anything else runs (us_init()). */
extern struct us_runtime *us_rt;

/* Finds the runtime another copy created (returns 0), or creates it
 * (returns 1). -EPROTO when the process already holds a runtime of another
 * ABI: then us_rt is a private one, this copy writes no code, and
 * us_runtime_foreign() says so. */
int us_runtime_init(void);
bool us_runtime_foreign(void);

/* Whether addr lies in an object that holds a copy of the library (its
 * note), of any version. */
bool us_runtime_in_copy(const void *addr);

#endif
