/* THROWAWAY placeholder (dyndbg-core owns src/dyndbg.h; replaced at the merge). */
#include "dyndbg_stub.h"
