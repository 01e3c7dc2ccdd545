// The SIMT simulator: include this (device/genesys/config.h does, under g++)
// and ordinary CUDA kernel source compiles with g++ and runs on host threads.
// Link genesys_sim.
//
// Model: each block is one OS thread; each thread of a block is a fiber on
// it, switched only at scheduling points (barriers, warp collectives,
// __activemask, __nanosleep, gsys::sim::yield, exit), round-robin in thread
// order, so a block's schedule is deterministic and ordering bugs reproduce.
// All blocks of a grid run at once. docs/simulator.md has the details.
#pragma once

#include <cstdio>  // kernels call printf without including anything

#include "atomics.h"
#include "builtins.h"
#include "launch.h"
#include "sync.h"
