/* Compiles abi.h as C (the kernel module's language) and reports its sizes. */
#include <genesys/abi.h>
#include <genesys/ops.h>

int gsys_abi_c_slot_size(void) { return (int)sizeof(struct gsys_slot); }
int gsys_abi_c_header_size(void) { return (int)sizeof(struct gsys_ring_header); }
