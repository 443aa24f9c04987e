// Denormal floats on the CPU: losses, moments and recurrent states that shrink towards zero, and softmax over
// widely spread logits, pass through them, and each one costs x86 a slow microcode path (steps and blocks run
// 10-30x slower); nothing in training or generation needs them.
#pragma once

namespace arl2::model {

// Flushes denormals to zero (x86's FTZ/DAZ, as torch.set_flush_denormal) on this thread and on every intra-op
// worker: the setting belongs to each thread.
void flush_cpu_denormals();

} // namespace arl2::model
