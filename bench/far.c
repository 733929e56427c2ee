/* SPDX-License-Identifier: MIT */
/* libbenchfar.so: a function ~40,000 GiB away from the PIE executable.
 * Calls to it go through the PLT, and a static call targeting it keeps its
 * trampoline in the indirect form (no rel32 reaches it). */
unsigned far_step(unsigned x);

unsigned far_step(unsigned x)
{
	return x + 3;
}
