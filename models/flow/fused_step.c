/* The image flow's geometric Euler step fused: z' = z + K ⋆ softmax_c(z) (eq. (2) in the log domain), and its backward.

Built on first use by models/flow/fused_step.py (models/native.py), which falls back to the torch loop where it cannot.
Layout: z (c, H, W, m) float32, the samples innermost (the flow's "cnm" layout); K (k·k, m): one k×k kernel per sample
(the depthwise difference kernel of noise="role", already times the step size), taps row-major. The correlation is
F.conv2d's: out[h, w] = Σ K[dy, dx] · in[h + dy − p, w + dx − p], p = k / 2, zero padding or wrapped (periodic). m is a
multiple of VB (the caller pads). Each thread takes a band of rows and keeps the softmax of the k rows around its row
in a ring, so a forward step reads z and writes z' once; the backward recomputes the softmax from z.
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define VB 16   /* samples per block: one AVX-512 vector of floats (two AVX2 ones) */
#define MAXC 64 /* labels at most (the caller checks) */
typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t i16 __attribute__((vector_size(64), aligned(4)));
#define V(ptr) (*(v16 *)(ptr))

static inline v16 vmax(v16 a, v16 b) {
    v16 r;
    for (int j = 0; j < VB; j++) r[j] = a[j] > b[j] ? a[j] : b[j];
    return r;
}

/* e^x for x ≤ 0 (a logit minus its label maximum), relative error about 2e−7: e^x = 2^n · e^f, n = floor(x / ln 2 + ½),
   |f| ≤ ln 2 / 2, e^f by its degree-6 Taylor polynomial; x below −87 is taken as −87 (e^−87 ≈ 1.6e−38, not 0: a label
   that far behind keeps a negligible but positive share, like softmax's) */
static inline v16 vexp(v16 x) {
    v16 zero = {0};
    x = vmax(x, zero - 87.0f);
    v16 t = x * 1.44269504f + 0.5f;
    i16 n = __builtin_convertvector(t, i16);  /* toward zero; one less where that rounded up */
    n += (i16)(__builtin_convertvector(n, v16) > t);
    v16 nf = __builtin_convertvector(n, v16);
    v16 f = x - nf * 0.693359375f + nf * 2.12194440e-4f;  /* x − n ln 2, ln 2 in two parts (Cody–Waite) */
    v16 e = zero + 1.0f / 720;
    e = e * f + 1.0f / 120; e = e * f + 1.0f / 24; e = e * f + 1.0f / 6; e = e * f + 0.5f; e = e * f + 1.0f; e = e * f + 1.0f;
    i16 bits = (n + 127) << 23;
    v16 scale;
    memcpy(&scale, &bits, sizeof scale);
    return e * scale;
}

/* the softmax over the labels of grid row r into s (c, W, m) */
static void softmax_row(const float *restrict z, float *restrict s, int c, int H, int W, int m, int r) {
    size_t plane = (size_t)H * W * m, row = (size_t)r * W * m, srow = (size_t)W * m;
    for (int w = 0; w < W; w++)
        for (int jb = 0; jb < m; jb += VB) {
            size_t o = row + (size_t)w * m + jb, so = (size_t)w * m + jb;
            v16 mx = V(z + o), total = {0};
            for (int a = 1; a < c; a++) mx = vmax(mx, V(z + a * plane + o));
            for (int a = 0; a < c; a++) {
                v16 e = vexp(V(z + a * plane + o) - mx);
                V(s + a * srow + so) = e;
                total += e;
            }
            total = 1.0f / total;
            for (int a = 0; a < c; a++) V(s + a * srow + so) *= total;
        }
}

/* i in [−n, 2n): the caller never needs more (fused_step.py checks k / 2 ≤ H, W on a torus). NaN and ±inf logits
   are not propagated as torch's softmax does (vmax drops NaN, vexp clamps): the final log-softmax still turns them into NaN. */
static inline int wrap(int i, int n) { return i < 0 ? i + n : (i >= n ? i - n : i); }

/* rows h − p … h + p of the softmax from the ring (computed where it does not hold them yet); NULL off an open grid */
static void ring_rows(const float *z, float *ring, int *held, const float **srow, int c, int H, int W, int m, int k,
                      int periodic, int h) {
    size_t rowsize = (size_t)c * W * m;
    for (int dy = 0; dy < k; dy++) {
        int r = h + dy - k / 2, slot = (r % k + k) % k;  /* k consecutive rows: k distinct slots */
        if (!periodic && (r < 0 || r >= H)) { srow[dy] = NULL; continue; }
        if (held[slot] != r) { softmax_row(z, ring + slot * rowsize, c, H, W, m, wrap(r, H)); held[slot] = r; }
        srow[dy] = ring + slot * rowsize;
    }
}

static void band(int H, int *h0, int *h1) {
    int t = 0, T = 1;
#ifdef _OPENMP
    t = omp_get_thread_num(); T = omp_get_num_threads();
#endif
    *h0 = (int)((long)H * t / T); *h1 = (int)((long)H * (t + 1) / T);
}

void euler_forward(const float *z, const float *K, float *out, int c, int H, int W, int m, int k, int periodic, int threads) {
    int p = k / 2;
    size_t plane = (size_t)H * W * m, rowsize = (size_t)c * W * m;
#pragma omp parallel num_threads(threads)
    {
        int h0, h1;
        band(H, &h0, &h1);
        float *ring = malloc(sizeof(float) * rowsize * k);
        int *held = malloc(sizeof(int) * k);
        for (int i = 0; i < k; i++) held[i] = INT32_MIN;
        for (int h = h0; h < h1; h++) {
            const float *srow[k];
            ring_rows(z, ring, held, srow, c, H, W, m, k, periodic, h);
            for (int a = 0; a < c; a++)
                for (int w = 0; w < W; w++) {
                    const float *tap[k * k];  /* the softmax at each tap (its label a), NULL off an open grid */
                    for (int dy = 0; dy < k; dy++)
                        for (int dx = 0; dx < k; dx++) {
                            int q = w + dx - p;
                            tap[dy * k + dx] = (!srow[dy] || (!periodic && (q < 0 || q >= W))) ? NULL
                                               : srow[dy] + (size_t)a * W * m + (size_t)wrap(q, W) * m;
                        }
                    size_t o = a * plane + ((size_t)h * W + w) * m;
                    for (int jb = 0; jb < m; jb += VB) {
                        v16 acc = V(z + o + jb);
                        for (int t = 0; t < k * k; t++)
                            if (tap[t]) acc += V(K + (size_t)t * m + jb) * V(tap[t] + jb);
                        V(out + o + jb) = acc;
                    }
                }
        }
        free(ring);
        free(held);
    }
}

/* dz = g + s ⊙ (u − Σ_a s_a u_a) with u = Kᵀ g (the adjoint correlation); dK[dy, dx] = Σ g[h, w] · s[h + dy − p, w + dx − p],
   each thread's share into gK (threads, k·k, m) */
void euler_backward(const float *z, const float *K, const float *g, float *gz, float *gK, int c, int H, int W, int m, int k,
                    int periodic, int threads) {
    int p = k / 2;
    size_t plane = (size_t)H * W * m, rowsize = (size_t)c * W * m;
#pragma omp parallel num_threads(threads)
    {
        int h0, h1, t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        band(H, &h0, &h1);
        float *ring = malloc(sizeof(float) * rowsize * k);
        int *held = malloc(sizeof(int) * k);
        for (int i = 0; i < k; i++) held[i] = INT32_MIN;
        float *mine = gK + (size_t)t * k * k * m;
        memset(mine, 0, sizeof(float) * k * k * m);
        for (int h = h0; h < h1; h++) {
            const float *srow[k];
            ring_rows(z, ring, held, srow, c, H, W, m, k, periodic, h);
            const float *here = srow[p];
            for (int w = 0; w < W; w++) {
                const float *stap[k * k];  /* the softmax at each tap (label 0; + a·W·m for label a), NULL off an open grid */
                int64_t gtap[k * k];       /* g's offset at each tap of the adjoint, −1 off an open grid */
                for (int dy = 0; dy < k; dy++)
                    for (int dx = 0; dx < k; dx++) {
                        int q = w + dx - p, r = h - dy + p, qa = w - dx + p;
                        stap[dy * k + dx] = (!srow[dy] || (!periodic && (q < 0 || q >= W))) ? NULL : srow[dy] + (size_t)wrap(q, W) * m;
                        gtap[dy * k + dx] = (!periodic && (r < 0 || r >= H || qa < 0 || qa >= W)) ? -1
                                            : ((int64_t)wrap(r, H) * W + wrap(qa, W)) * m;
                    }
                for (int jb = 0; jb < m; jb += VB) {
                    v16 u[MAXC], dot = {0};
                    for (int a = 0; a < c; a++) {
                        const float *ga = g + a * plane;
                        v16 gc = V(ga + ((size_t)h * W + w) * m + jb), acc = {0};
                        for (int t2 = 0; t2 < k * k; t2++) {
                            if (gtap[t2] >= 0) acc += V(K + (size_t)t2 * m + jb) * V(ga + gtap[t2] + jb);
                            if (stap[t2]) V(mine + (size_t)t2 * m + jb) += gc * V(stap[t2] + (size_t)a * W * m + jb);
                        }
                        u[a] = acc;
                        dot += V(here + (size_t)a * W * m + (size_t)w * m + jb) * acc;
                    }
                    for (int a = 0; a < c; a++) {
                        size_t o = a * plane + ((size_t)h * W + w) * m + jb;
                        V(gz + o) = V(g + o) + V(here + (size_t)a * W * m + (size_t)w * m + jb) * (u[a] - dot);
                    }
                }
            }
        }
        free(ring);
        free(held);
    }
}
