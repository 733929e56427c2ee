/* SPDX-License-Identifier: MIT */
/*
 * The portable fallback, for every architecture without a code patcher (and
 * x86-64 built with GENERIC=1): no code is ever written. static_call() is an
 * indirect call through key->func, static branches load key->enabled, and
 * updates only store to the key, which is always correct. Every hook is a
 * stub the compiler folds away.
 */
#ifndef USTATIC_ARCH_GENERIC_H
#define USTATIC_ARCH_GENERIC_H

static inline bool us_arch_can_patch_in(const uint8_t *insn US_U,
					unsigned len US_U)
{
	return false;
}

static inline bool us_arch_emulate(const uint8_t *insn US_U, uintptr_t at US_U,
				   ucontext_t *uc US_U, bool shstk US_U)
{
	return false;
}

static inline uintptr_t us_arch_trap_pc(const ucontext_t *uc US_U)
{
	return 0;
}

static inline void us_arch_set_pc(ucontext_t *uc US_U, uintptr_t pc US_U)
{
}

static inline void us_arch_serialize(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void us_arch_flush_icache(void *start US_U, size_t len US_U)
{
}

static inline uint8_t *us_arch_tramp_slot(void *tramp)
{
	return tramp;
}

static inline unsigned us_arch_tramp_slot_len(void)
{
	return 0;
}

static inline void us_arch_encode_tramp(uint8_t *out US_U,
					const uint8_t *slot US_U,
					const void *to US_U)
{
}

static inline bool us_arch_in_reach(const void *from US_U, const void *to US_U)
{
	return false;
}

static inline unsigned us_arch_site_len(const struct us_site *s US_U)
{
	return 0;
}

static inline void us_arch_encode_site(uint8_t *out US_U,
				       const struct us_site *s US_U,
				       const void *to US_U)
{
}

static inline void us_arch_encode_site_nop(uint8_t *out US_U,
					   const struct us_site *s US_U)
{
}

static inline bool us_arch_encode_site_ret0(uint8_t *out US_U,
					    const struct us_site *s US_U)
{
	return false;
}

static inline unsigned us_arch_jump_len(void)
{
	return 0;
}

static inline void us_arch_encode_jump(uint8_t *out US_U,
				       const uint8_t *code US_U,
				       const void *target US_U, bool jump US_U)
{
}

static inline uint8_t us_arch_tramp_guard(void)
{
	return 0;
}

static inline uint8_t us_arch_jump_guard(void)
{
	return 0;
}

static inline uint8_t us_arch_site_guard(const struct us_site *s US_U,
					 const uint8_t *old US_U,
					 const uint8_t *new US_U)
{
	return 0;
}

static inline bool us_arch_ends_flow(const uint8_t *p US_U, int len US_U)
{
	return true;
}

static inline int us_arch_decode_site(uint8_t *p US_U, size_t avail US_U,
				      const void *tramp US_U,
				      struct us_site *s US_U, bool *found)
{
	*found = false;
	return -1;
}

#endif
