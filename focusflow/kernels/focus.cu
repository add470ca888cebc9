// One fused focus iteration over a bin of rows (CUDA; compiled by CuPy's NVRTC).
//
// gather + teleport + dangling + residual in one pass: each row's pull-sum over its
// in-links (LANES threads per row, chosen per degree bin so power-law rows stay
// balanced), then π' = d·(sum + delta) + coef·v, the row's |Δπ|, its dangling share and
// x' = π'·(1/out) for the next iteration. Per-block residual and dangling sums go to
// `partials` (no same-address atomics: 100k blocks hammering one word would serialise);
// `finish_iteration` folds them on the device, so iterations chain without a host sync.

template <int LANES, int UNROLL>
__global__ void __launch_bounds__(256) focus_bin(
    const int* __restrict__ indptr, const int* __restrict__ indices,
    const float* __restrict__ w, const unsigned int* __restrict__ rows, int row_count,
    const float* __restrict__ x_in, const float* __restrict__ pi_in,
    float* __restrict__ pi_out, float* __restrict__ x_out,
    const float* __restrict__ inv_out, const float* __restrict__ tele, int tele_vector,
    float tele_uniform, const float* __restrict__ acc_init, int use_acc,
    float damping, const double* __restrict__ state, int coef_slot,
    double* __restrict__ partials, int block_offset)
{
    const float coef = (float)state[coef_slot];
    __shared__ float sh[8];
    __shared__ double red_r[8];
    __shared__ double red_d[8];
    const int tid = threadIdx.x;
    const int slot = blockIdx.x * (256 / LANES) + tid / LANES;
    const int lane = tid % LANES;
    const bool valid = slot < row_count;
    const int row = valid ? (int)rows[slot] : 0;
    float acc = 0.f;
    if (valid) {
        const int end = indptr[row + 1];
        int k = indptr[row] + lane;
        if (UNROLL > 1) {
            // UNROLL independent loads in flight per lane before the first use
            float part[UNROLL];
#pragma unroll
            for (int u = 0; u < UNROLL; ++u) part[u] = 0.f;
            for (; k + (UNROLL - 1) * LANES < end; k += UNROLL * LANES) {
                int idx[UNROLL];
                float wv[UNROLL];
#pragma unroll
                for (int u = 0; u < UNROLL; ++u) {
                    idx[u] = indices[k + u * LANES];
                    wv[u] = w[k + u * LANES];
                }
#pragma unroll
                for (int u = 0; u < UNROLL; ++u) part[u] += wv[u] * __ldg(x_in + idx[u]);
            }
#pragma unroll
            for (int u = 0; u < UNROLL; ++u) acc += part[u];
        }
        for (; k < end; k += LANES) {
            acc += w[k] * __ldg(x_in + indices[k]);
        }
    }
    if (LANES <= 32) {
#pragma unroll
        for (int s = LANES / 2; s > 0; s >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, s, LANES);
    } else {
#pragma unroll
        for (int s = 16; s > 0; s >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, s);
        if ((tid & 31) == 0) sh[tid >> 5] = acc;
        __syncthreads();
        if (lane == 0) {
            float t = 0.f;
#pragma unroll
            for (int i = 0; i < (LANES > 32 ? LANES / 32 : 1); ++i) t += sh[(tid >> 5) + i];
            acc = t;
        }
    }
    double r = 0.0, dm = 0.0;
    if (valid && lane == 0) {
        const float base = use_acc ? acc_init[row] : 0.f;
        const float v = tele_vector ? tele[row] : tele_uniform;
        const float y = damping * (acc + base) + coef * v;
        r = fabs((double)y - (double)pi_in[row]);
        const float io = inv_out[row];
        if (io == 0.f) dm = (double)y;
        pi_out[row] = y;
        x_out[row] = y * io;
    }
#pragma unroll
    for (int s = 16; s > 0; s >>= 1) {
        r += __shfl_down_sync(0xffffffffu, r, s);
        dm += __shfl_down_sync(0xffffffffu, dm, s);
    }
    if ((tid & 31) == 0) {
        red_r[tid >> 5] = r;
        red_d[tid >> 5] = dm;
    }
    __syncthreads();
    if (tid == 0) {
        double a = 0.0, b = 0.0;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            a += red_r[i];
            b += red_d[i];
        }
        partials[2 * (block_offset + blockIdx.x)] = a;
        partials[2 * (block_offset + blockIdx.x) + 1] = b;
    }
}

// Fold one iteration's per-block partials: the residual into the history, the dangling
// mass into the next teleport coefficient (state[1 - slot]). One block; no host sync.
extern "C" __global__ void finish_iteration(const double* __restrict__ partials, int blocks,
                                            double* state, int slot, int hist_index,
                                            double damping)
{
    __shared__ double sr[32];
    __shared__ double sd[32];
    double r = 0.0, dm = 0.0;
    for (int i = threadIdx.x; i < blocks; i += blockDim.x) {
        r += partials[2 * i];
        dm += partials[2 * i + 1];
    }
    for (int s = 16; s > 0; s >>= 1) {
        r += __shfl_down_sync(0xffffffffu, r, s);
        dm += __shfl_down_sync(0xffffffffu, dm, s);
    }
    if ((threadIdx.x & 31) == 0) {
        sr[threadIdx.x >> 5] = r;
        sd[threadIdx.x >> 5] = dm;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double a = 0.0, b = 0.0;
        for (int i = 0; i < (int)(blockDim.x >> 5); ++i) {
            a += sr[i];
            b += sd[i];
        }
        state[1 - slot] = damping * b + (1.0 - damping);
        state[2 + hist_index] = a;
    }
}

// Delta segment (links not yet folded into the CSR): acc[dst] += W·x[src].
extern "C" __global__ void delta_scatter(const long long* __restrict__ dst,
                                         const long long* __restrict__ src,
                                         const float* __restrict__ w,
                                         const float* __restrict__ x, float* acc, long long m)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < m) atomicAdd(acc + dst[i], w[i] * x[src[i]]);
}

// ---- batch application (resident graph): one pass over the changed edges ----------------
__device__ long long find_key(const unsigned long long* keys, long long len,
                              unsigned long long key)
{
    long long lo = 0, hi = len;
    while (lo < hi) {
        const long long mid = (lo + hi) >> 1;
        if (keys[mid] < key) lo = mid + 1; else hi = mid;
    }
    return (lo < len && keys[lo] == key) ? lo : -1;
}

// For each edge of the delta: find it in the base (else in the delta segment) and edit W,
// the link count, the float32 kernel weight, out-weight and live out-degree in place; an
// edge found in neither is flagged for insertion. flags[0]: tombstone change (base),
// flags[1]: error (a count would go negative), flags[2]: edges to insert.
extern "C" __global__ void apply_delta(
    const long long* __restrict__ src, const unsigned long long* __restrict__ key,
    const double* __restrict__ dw, const long long* __restrict__ dc, long long m,
    const unsigned long long* __restrict__ base_keys, long long base_len,
    double* base_w, int* base_c, float* w32, const long long* __restrict__ kpos,
    const unsigned long long* __restrict__ d_keys, long long d_len, double* d_w, int* d_c,
    double* out_w, unsigned long long* out_deg, double* moved, int* missing,
    long long* flags, double snap)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= m) return;
    long long p = find_key(base_keys, base_len, key[i]);
    double* wv = base_w;
    int* cv = base_c;
    const bool in_base = p >= 0;
    if (!in_base) {
        p = find_key(d_keys, d_len, key[i]);
        wv = d_w;
        cv = d_c;
    }
    const long long s = src[i];
    atomicAdd(out_w + s, dw[i]);
    atomicAdd(moved + s, fabs(dw[i]));
    if (p < 0) {
        missing[i] = 1;
        if (dc[i] <= 0) atomicAdd((unsigned long long*)(flags + 1), 1ull);
        atomicAdd(out_deg + s, 1ull);
        atomicAdd((unsigned long long*)(flags + 2), 1ull);
        return;
    }
    missing[i] = 0;
    const double old_w = wv[p];
    const long long old_c = cv[p];
    const long long new_c = old_c + dc[i];
    if (new_c < 0) atomicAdd((unsigned long long*)(flags + 1), 1ull);
    double new_w = old_w + dw[i];
    const bool noise = fabs(new_w) <= snap * (fabs(old_w) + fabs(dw[i]));
    if (new_c <= 0 || noise || new_w < 0.0) new_w = 0.0;
    wv[p] = new_w;
    cv[p] = (int)(new_c < 0 ? 0 : new_c);
    if (in_base) w32[kpos[p]] = (float)new_w;
    const long long was = old_c > 0, now = new_c > 0;
    if (was != now) atomicAdd(out_deg + s, (unsigned long long)(now - was));
    if (in_base && was != now) atomicAdd((unsigned long long*)flags, (unsigned long long)(was - now));
}

// Snap the out-weights of the touched sources: no live out-edge, or rounding residue, is 0.
extern "C" __global__ void snap_out(const long long* __restrict__ src, long long m,
                                    const double* __restrict__ old_out, double* out_w,
                                    const unsigned long long* __restrict__ out_deg,
                                    const double* __restrict__ moved, double snap)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= m) return;
    const long long s = src[i];
    const double ow = out_w[s];
    if (out_deg[s] == 0ull || ow <= snap * (fabs(old_out[i]) + moved[s])) out_w[s] = 0.0;
}
