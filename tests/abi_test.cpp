// The ABI is the contract between three separately built sides: pin its
// layout and geometry so a change is a deliberate, visible one.
#include <genesys/abi.h>
#include <genesys/ops.h>
#include <cstring>

#include <gtest/gtest.h>

#include <cstddef>

extern "C" int gsys_abi_c_slot_size(void);
extern "C" int gsys_abi_c_header_size(void);

TEST(Abi, SlotIsOneCacheLine)
{
  EXPECT_EQ(sizeof(gsys_slot), 64u);
  EXPECT_EQ(offsetof(gsys_slot, ret), 8u);
  EXPECT_EQ(alignof(gsys_slot), 8u);
}

TEST(Abi, CAndCppAgreeOnLayout)
{
  EXPECT_EQ(gsys_abi_c_slot_size(), (int)sizeof(gsys_slot));
  EXPECT_EQ(gsys_abi_c_header_size(), (int)sizeof(gsys_ring_header));
}

TEST(Abi, ConsumerAndSleepLinesAreApart)
{
  EXPECT_EQ(offsetof(gsys_ring_header, sq_head) / 64, 1u);
  EXPECT_EQ(offsetof(gsys_ring_header, doorbell) / 64, 2u);
  EXPECT_EQ(offsetof(gsys_ring_header, completed) / 64, 3u);
}

// v2: one 64-bit store publishes an entry; the executor's one 64-bit load
// must see the same seq and slot fields the struct names. The request is in
// the same cache line (the executor reads one line per call).
TEST(Abi, QueueEntryWordMatchesItsFields)
{
  gsys_sq_entry e{};
  const gsys_u64 w = GSYS_SQ_WORD(41, 7);
  EXPECT_EQ(sizeof e, 64u);
  EXPECT_EQ(offsetof(gsys_sq_entry, seq), 0u);
  EXPECT_EQ(offsetof(gsys_sq_entry, slot), 4u);
  EXPECT_EQ(offsetof(gsys_sq_entry, arg) + sizeof e.arg, 64u);
  std::memcpy(&e, &w, sizeof w);
  EXPECT_EQ(e.seq, 42u);
  EXPECT_EQ(e.slot, 7u);
  EXPECT_EQ(GSYS_SQ_SEQ(w), 42u);
  EXPECT_EQ(GSYS_SQ_SLOT(w), 7u);
  EXPECT_NE(GSYS_SQ_SEQ(0), 1u) << "a zeroed entry is not published for position 0";
}

TEST(Abi, DevicePartIsOrderedAndLineAligned)
{
  for (gsys_u32 n = GSYS_MIN_SLOTS; n <= GSYS_MAX_SLOTS; n *= 2) {
    EXPECT_EQ(gsys_dev_claim_offset(), sizeof(gsys_ring_device));
    EXPECT_GE(gsys_dev_pending_offset(n), gsys_dev_claim_offset() + n / 8);
    EXPECT_GE(gsys_dev_slot_chunk_offset(n), gsys_dev_pending_offset(n) + n / 8);
    EXPECT_GE(gsys_dev_staging_offset(n), gsys_dev_slot_chunk_offset(n) + n * 4ull);
    EXPECT_EQ(gsys_dev_staging_offset(n) % 64, 0u);
    EXPECT_EQ(gsys_dev_bytes(n, 0), gsys_dev_staging_offset(n));
    EXPECT_GE(gsys_dev_bytes(n, 33), gsys_dev_staging_offset(n) + 8);
  }
}

TEST(Abi, GeometryIsPageAlignedAndOrdered)
{
  for (gsys_u32 n = GSYS_MIN_SLOTS; n <= GSYS_MAX_SLOTS; n *= 2) {
    EXPECT_EQ(gsys_ring_bytes(n, n) % 4096, 0u) << n;
    EXPECT_EQ(gsys_ring_sq_offset(n), GSYS_HEADER_BYTES + n * 64ull);
    EXPECT_GE(gsys_ring_bytes(n, n), gsys_ring_sq_offset(n) + n * 8ull);
    EXPECT_EQ(gsys_ring_sq_offset(n) % 64, 0u);
  }
}

TEST(Abi, IoctlStructsHaveNoImplicitPadding)
{
  EXPECT_EQ(sizeof(gsys_ioc_register_ring), 72u);
  EXPECT_EQ(sizeof(gsys_ioc_register_files), 40u);
  EXPECT_EQ(sizeof(gsys_ioc_serve), 64u);
  EXPECT_EQ(sizeof(gsys_ioc_stats), 120u);
  EXPECT_EQ(offsetof(gsys_ioc_stats, ops_ptr), 88u);
  EXPECT_EQ(offsetof(gsys_ioc_stats, ops_count), 96u);
  EXPECT_EQ(sizeof(gsys_ioc_op_stats), 32u);
  EXPECT_NE(GSYS_IOC_REGISTER_RING, GSYS_IOC_SERVE);
}

TEST(Abi, OpTableOpcodesAreUniqueAndInRange)
{
  const long nrs[] = {
#define GSYS_NR_ROW(name, nr, dir, a0, a1, a2, a3, a4, a5) nr,
      GSYS_OP_TABLE(GSYS_NR_ROW)
#undef GSYS_NR_ROW
  };
  static_assert(sizeof(nrs) / sizeof(nrs[0]) == GSYS_OP_COUNT);
  for (size_t i = 0; i < GSYS_OP_COUNT; ++i) {
    EXPECT_LE(nrs[i], (long)GSYS_NR_MAX);
    for (size_t j = i + 1; j < GSYS_OP_COUNT; ++j) EXPECT_NE(nrs[i], nrs[j]);
  }
}
