/* The finish's kernels compiled: heat bath, line heat bath and Swendsen–Wang with the data term, per chain in C.

Built on first use by models/kernels/native/__init__.py (gcc -O3 -march=native -fopenmp, a plain shared library loaded by
ctypes, no torch headers: it builds in about a second), which falls back to the torch code where it cannot. The same
laws as models/kernels/{heat_bath,line,swendsen_wang}.py, drawn with other random numbers: each chain has its own
xoshiro256** stream seeded from the caller's torch generator, so a result depends on the seed, not on the threads.

Layout: labelings x (B, H, W) int64, chain-major, updated in place; edges as the energy's, each (H, W): the horizontal
one (r, q)–(r, q+1 mod W), the vertical one (r, q)–(r+1 mod H, q), weight 0 where an open grid has none.
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { uint64_t s[4]; } rng_t;

static inline uint64_t splitmix64(uint64_t *z) {
    uint64_t r = (*z += 0x9E3779B97F4A7C15ULL);
    r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9ULL;
    r = (r ^ (r >> 27)) * 0x94D049BB133111EBULL;
    return r ^ (r >> 31);
}

static inline void rng_seed(rng_t *g, uint64_t seed) {
    for (int i = 0; i < 4; i++) g->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

static inline uint64_t rng_next(rng_t *g) { /* xoshiro256** */
    uint64_t *s = g->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return out;
}

static inline double uniform(rng_t *g) { return (double)(rng_next(g) >> 11) * 0x1.0p-53; } /* [0, 1) */

/* the label a with cumulative p below u·total for all labels before it: the inverse CDF of unnormalised p */
static inline int64_t draw(const double *p, int c, double u) {
    double total = 0;
    for (int a = 0; a < c; a++) total += p[a];
    double t = u * total, cum = 0;
    int64_t label = 0;
    for (int a = 0; a < c - 1; a++) {  /* counted, not branched on: which label comes out is a coin flip to a predictor */
        cum += p[a];
        label += cum <= t;
    }
    return label;
}

/* Runs `call` with C, the label count, as a compile-time constant for 2, 3 and 4 labels (the per-chain bodies are always
   inlined, so their loops over labels unroll and p[C] is a plain array: 2.2× on the line sweep at 3 labels), as a
   variable otherwise. The same operations in the same order either way: bit-for-bit the same labels. */
#define INLINE static inline __attribute__((always_inline))
#define WITH_LABELS(c, call) \
    switch (c) { \
    case 2: { enum { C = 2 }; call; } break; \
    case 3: { enum { C = 3 }; call; } break; \
    case 4: { enum { C = 4 }; call; } break; \
    default: { const int C = c; call; } \
    }

/* Tables (double): eu (H·W, c) = exp(−U + min_a U) per pixel, ewh/ewv (H, W) = exp(w) of each edge (1 where an open grid
   has none). A pixel's conditional is eu(a) times exp(w) for every neighbour of label a: no exp per pixel. */

/* heat bath: each checkerboard colour in turn, every pixel from its conditional given its four neighbours (the wrapped
   one on an open grid has weight 0, a factor 1) */
INLINE void heat_bath_chain(int64_t *y, int H, int W, const int c, const double *eu, const double *ewh, const double *ewv,
                            int sweeps, rng_t *g) {
    double p[c];
    for (int s = 0; s < sweeps; s++)
        for (int parity = 0; parity < 2; parity++)
            for (int r = 0; r < H; r++) {
                int above = (r ? r - 1 : H - 1) * W, below = (r + 1 < H ? r + 1 : 0) * W, row = r * W;
                for (int q = (r + parity) & 1; q < W; q += 2) {  /* no % per pixel: a division costs more than the rest */
                    int i = row + q, left = row + (q ? q - 1 : W - 1), right = row + (q + 1 < W ? q + 1 : 0);
                    /* selects, not p[label] *= …: a store and a load of one element stall the pipeline */
                    int64_t la = y[above + q], lb = y[below + q], ll = y[left], lr = y[right];
                    double fa = ewv[above + q], fb = ewv[i], fl = ewh[left], fr = ewh[i];
                    const double *e = eu + (int64_t)i * c;
                    for (int a = 0; a < c; a++)
                        p[a] = e[a] * (la == a ? fa : 1) * (lb == a ? fb : 1) * (ll == a ? fl : 1) * (lr == a ? fr : 1);
                    y[i] = draw(p, c, uniform(g));
                }
            }
}

void heat_bath(int64_t *x, const uint64_t *seeds, int B, int H, int W, int c, const double *eu, const double *ewh,
               const double *ewv, int sweeps, int threads) {
    int n = H * W;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int b = 0; b < B; b++) {
        rng_t g;
        rng_seed(&g, seeds[b]);
        WITH_LABELS(c, heat_bath_chain(x + (int64_t)b * n, H, W, C, eu, ewh, ewv, sweeps, &g))
    }
}

/* Lines l = parity, parity + 2, … (L lines of K pixels; pixel k of line l is y[l·ls + k·ps]) drawn exactly given the
   lines beside them, by forward filtering and backward sampling; a position at a time across all of these lines, which
   are independent given the others: their filters run side by side (one line's filter is a chain of dependent steps).
   ew: exp(w) of the edge from each pixel to the next line (1 where there is none: the wrapped line of an open grid then
   enters with factor 1); stays: exp(−w) of the edge from each pixel to the next one on its line. F: H·W·c scratch. */
INLINE void resample_lines(int64_t *y, int K, int L, int64_t ls, int64_t ps, const int c, int parity, const double *eu,
                           const double *ew, const double *stays, double *F, rng_t *g) {
    double p[c];
    for (int k = 0; k < K; k++)
        for (int l = parity; l < L; l += 2) {
            int64_t i = l * ls + k * ps, before = l ? i - ls : i + (L - 1) * ls, after = l + 1 < L ? i + ls : i - l * ls;
            double *fk = F + i * c, total = 0, f0 = ew[before], f1 = ew[i];
            int64_t l0 = y[before], l1 = y[after];
            const double *e = eu + i * c;
            for (int a = 0; a < c; a++) fk[a] = e[a] * (l0 == a ? f0 : 1) * (l1 == a ? f1 : 1);
            if (k > 0) {  /* Σ_b f(b) e^{−w[a≠b]} = e^{−w} + (1 − e^{−w}) f(a) for a normalised f */
                double stay = stays[i - ps], move = 1 - stay;
                const double *prev = F + (i - ps) * c;
                for (int a = 0; a < c; a++) fk[a] *= stay + move * prev[a];
            }
            for (int a = 0; a < c; a++) total += fk[a];
            double inv = 1 / total;
            for (int a = 0; a < c; a++) fk[a] *= inv;
        }
    for (int l = parity; l < L; l += 2) {
        int64_t i = l * ls + (int64_t)(K - 1) * ps;
        y[i] = draw(F + i * c, c, uniform(g));
    }
    for (int k = K - 2; k >= 0; k--)
        for (int l = parity; l < L; l += 2) {  /* pixel k given pixel k + 1 = b: ∝ f(a) · (e^{−w} + (1 − e^{−w})[a = b]) */
            int64_t i = l * ls + k * ps, next = y[i + ps];
            double stay = stays[i], move = 1 - stay;
            const double *fk = F + i * c;
            for (int a = 0; a < c; a++) p[a] = fk[a] * (stay + (a == next ? move : 0));
            y[i] = draw(p, c, uniform(g));
        }
}

INLINE void line_chain(int64_t *y, int H, int W, const int c, const double *eu, const double *ewh, const double *ewv,
                       const double *sh, const double *sv, int sweeps, double *F, rng_t *g) {
    for (int s = 0; s < sweeps; s++) {
        for (int parity = 0; parity < 2; parity++) resample_lines(y, W, H, W, 1, c, parity, eu, ewv, sh, F, g);
        for (int parity = 0; parity < 2; parity++) resample_lines(y, H, W, 1, W, c, parity, eu, ewh, sv, F, g);
    }
}

/* line heat bath on an open grid: rows of even, then odd index, then columns alike. sh, sv: exp(−w) of the edges. */
void line_heat_bath(int64_t *x, const uint64_t *seeds, int B, int H, int W, int c, const double *eu, const double *ewh,
                    const double *ewv, const double *sh, const double *sv, int sweeps, int threads) {
    int n = H * W;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int b = 0; b < B; b++) {
        rng_t g;
        rng_seed(&g, seeds[b]);
        double *F = malloc(sizeof(double) * (size_t)n * c);
        WITH_LABELS(c, line_chain(x + (int64_t)b * n, H, W, C, eu, ewh, ewv, sh, sv, sweeps, F, &g))
        free(F);
    }
}

static inline int find(int *parent, int i) {
    while (parent[i] != i) { parent[i] = parent[parent[i]]; i = parent[i]; }
    return i;
}

static inline void join(int *parent, int i, int j) {
    int a = find(parent, i), b = find(parent, j);
    if (a != b) { if (a < b) parent[b] = a; else parent[a] = b; }
}

/* Swendsen–Wang with the data term: bonds between equal neighbours with probability 1 − e^{−w} (pright, pdown),
   clusters by union-find, each cluster a label ∝ exp(−Σ_{i∈C} U_i(a)) (sums in double) */
INLINE void swendsen_wang_chain(int64_t *y, int H, int W, const int c, const double *unary, const float *pright,
                                const float *pdown, int sweeps, int *parent, double *energy, rng_t *g) {
    int n = H * W;
    double p[c];
    for (int s = 0; s < sweeps; s++) {
        for (int i = 0; i < n; i++) parent[i] = i;
        for (int r = 0; r < H; r++)
            for (int q = 0; q < W; q++) {
                int i = r * W + q, right = r * W + (q + 1 < W ? q + 1 : 0), down = (r + 1 < H ? r + 1 : 0) * W + q;
                float u = (float)uniform(g), v = (float)uniform(g);  /* for every pixel: the stream does not depend on x */
                if (y[i] == y[right] && u < pright[i]) join(parent, i, right);
                if (y[i] == y[down] && v < pdown[i]) join(parent, i, down);
            }
        for (int i = 0; i < n; i++) {  /* a cluster's energies at its root, which is its smallest pixel */
            int root = parent[i] = find(parent, i);
            double *e = energy + (int64_t)root * c;
            const double *u = unary + (int64_t)i * c;
            if (root == i) for (int a = 0; a < c; a++) e[a] = u[a];
            else for (int a = 0; a < c; a++) e[a] += u[a];
        }
        for (int i = 0; i < n; i++) {  /* roots come first in their cluster: draw there, copy to the rest */
            int root = parent[i];
            if (root == i) {
                const double *e = energy + (int64_t)i * c;
                double low = e[0];
                for (int a = 1; a < c; a++) low = e[a] < low ? e[a] : low;
                for (int a = 0; a < c; a++) p[a] = exp(low - e[a]);
                y[i] = draw(p, c, uniform(g));
            } else {
                y[i] = y[root];
            }
        }
    }
}

void swendsen_wang(int64_t *x, const uint64_t *seeds, int B, int H, int W, int c, const double *unary,
                   const float *pright, const float *pdown, int sweeps, int threads) {
    int n = H * W;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int b = 0; b < B; b++) {
        rng_t g;
        rng_seed(&g, seeds[b]);
        int *parent = malloc(sizeof(int) * (size_t)n);
        double *energy = malloc(sizeof(double) * (size_t)n * c);
        WITH_LABELS(c, swendsen_wang_chain(x + (int64_t)b * n, H, W, C, unary, pright, pdown, sweeps, parent, energy, &g))
        free(parent);
        free(energy);
    }
}
