// Exact focus iteration on CUDA (docs/kernels.md, "Exact focus"): 64-bit integers only.
//
// The rounding rule is one __umul64hi per link (hi64(W'·x)); every sum is a uint64 sum
// bounded by 2^61, so warp shuffles, shared-memory trees and atomics may add in any
// order and still give the CPU's bits. Per iteration: `gather_bin<LANES>` per degree
// bin (y_j, z_j = ⌊y_j·δ/2^32⌋, per-block Σz), `fold_z` (t = ⌊(2^60 − Σz)/n⌋), `finish`
// (π' = z + t, per-block Σ|π' − π|, x' = hi64(2π'·R) for the next iteration) and
// `fold_r` (r into the history, done = r < ε). Once done is set every kernel returns at
// once, so iterations enqueued as a group stop exactly where the stop rule says.

typedef unsigned long long u64;

#define S_Z 0
#define S_T 1
#define S_DONE 2
#define S_COUNT 3
#define S_HIST 4
#define MASS (1ull << 60)

__device__ __forceinline__ u64 warp_sum(u64 v) {
#pragma unroll
    for (int s = 16; s > 0; s >>= 1) v += __shfl_down_sync(0xffffffffu, v, s);
    return v;
}

// Σ over a 256-thread block into thread 0's return value.
__device__ __forceinline__ u64 block_sum(u64 v, u64* sh) {
    const int tid = threadIdx.x;
    v = warp_sum(v);
    if ((tid & 31) == 0) sh[tid >> 5] = v;
    __syncthreads();
    u64 t = 0;
    if (tid < 32) {
        t = tid < (int)(blockDim.x >> 5) ? sh[tid] : 0ull;
        t = warp_sum(t);
    }
    return t;
}

__device__ __forceinline__ u64 damp(u64 y, u64 delta) {
    return (y >> 32) * delta + (((y & 0xffffffffull) * delta) >> 32);
}

extern "C" __global__ void source_x(const u64* __restrict__ pi, const u64* __restrict__ recip,
                                    u64* __restrict__ x, long long n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = __umul64hi(pi[i] << 1, recip[i]);
}

extern "C" __global__ void delta_scatter(const long long* __restrict__ dst,
                                         const long long* __restrict__ src,
                                         const u64* __restrict__ wn, const u64* __restrict__ x,
                                         u64* __restrict__ acc, long long m,
                                         const u64* __restrict__ state) {
    if (state[S_DONE]) return;
    const long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k < m) atomicAdd(acc + dst[k], __umul64hi(wn[k], x[src[k]]));
}

template <int LANES>
__global__ void __launch_bounds__(256) gather_bin(
    const int* __restrict__ indptr, const int* __restrict__ indices,
    const u64* __restrict__ wn, const unsigned int* __restrict__ rows, int row_count,
    const u64* __restrict__ x, const u64* __restrict__ acc_init, int use_acc,
    u64* __restrict__ z, u64 delta, u64* __restrict__ partials, int block_offset,
    const u64* __restrict__ state)
{
    if (state[S_DONE]) return;
    __shared__ u64 sh[8];
    __shared__ u64 red[8];
    const int tid = threadIdx.x;
    const int slot = blockIdx.x * (256 / LANES) + tid / LANES;
    const int lane = tid % LANES;
    const bool valid = slot < row_count;
    const int row = valid ? (int)rows[slot] : 0;
    u64 acc = 0;
    if (valid) {
        const int end = indptr[row + 1];
        for (int k = indptr[row] + lane; k < end; k += LANES) {
            acc += __umul64hi(wn[k], __ldg(x + indices[k]));
        }
    }
    if (LANES <= 32) {
#pragma unroll
        for (int s = LANES / 2; s > 0; s >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, s, LANES);
    } else {
        acc = warp_sum(acc);
        if ((tid & 31) == 0) sh[tid >> 5] = acc;
        __syncthreads();
        if (lane == 0) {
            u64 t = 0;
#pragma unroll
            for (int i = 0; i < (LANES > 32 ? LANES / 32 : 1); ++i) t += sh[(tid >> 5) + i];
            acc = t;
        }
    }
    u64 zv = 0;
    if (valid && lane == 0) {
        if (use_acc) acc += acc_init[row];
        zv = damp(acc, delta);
        z[row] = zv;
    }
    const u64 total = block_sum(zv, red);
    if (tid == 0) partials[block_offset + blockIdx.x] = total;
}

extern "C" __global__ void fold(const u64* __restrict__ partials, int count,
                                u64* __restrict__ state, long long n, u64 eps, int which) {
    // which = 0: Σz → t;  which = 1: Σ|Δπ| → history, done
    if (state[S_DONE]) return;
    __shared__ u64 red[32];
    u64 v = 0;
    for (int k = threadIdx.x; k < count; k += blockDim.x) v += partials[k];
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        u64 t = threadIdx.x < (blockDim.x >> 5) ? red[threadIdx.x] : 0ull;
        t = warp_sum(t);
        if (threadIdx.x == 0) {
            if (which == 0) {
                state[S_Z] = t;
                state[S_T] = (MASS - t) / (u64)n;
            } else {
                const u64 k = state[S_COUNT];
                state[S_HIST + k] = t;
                state[S_COUNT] = k + 1;
                if (t < eps) state[S_DONE] = 1;
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) finish(
    u64* __restrict__ pi, const u64* __restrict__ z, const u64* __restrict__ recip,
    u64* __restrict__ x, long long n, u64* __restrict__ partials, u64* __restrict__ state) {
    if (state[S_DONE]) return;
    __shared__ u64 red[8];
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    u64 r = 0;
    if (i < n) {
        const u64 next = z[i] + state[S_T];
        const u64 old = pi[i];
        r = next > old ? next - old : old - next;
        pi[i] = next;
        x[i] = __umul64hi(next << 1, recip[i]);
    }
    const u64 total = block_sum(r, red);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}
