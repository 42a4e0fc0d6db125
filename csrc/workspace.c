/* workspace.c - allocation of the per-thread scratch (acelin_ws). */
#define _POSIX_C_SOURCE 200112L /* posix_memalign */
#include <stdlib.h>
#include <string.h>

#include "workspace.h"

void acelin_ws_free(acelin_ws *w)
{
    if (!w) return;
    free(w->A); free(w->dEdA); free(w->nb_bond); free(w->nb_block); free(w->nb_u);
    free(w->Rb); free(w->dRb); free(w->nb_pair); free(w->blk_start); free(w->blk_near);
    free(w->nb_r); free(w->R); free(w->dR); free(w->Y); free(w->dY); free(w->nb_slot); free(w->bu); free(w->D);
    free(w->g); free(w->order); free(w->sp_start); free(w->sp_near); free(w->nb_far);
    free(w);
}

/* Every array of a workspace is whole 64-byte cache lines of its own: the workspaces of
 * different threads then never share a line with each other or with the caller's arrays
 * that other threads write (false sharing slowed the threaded runs), and whole 32-byte
 * vectors can be stored (acelin_ylm4, the radial blocks). free() releases them. */
void *acelin_line_alloc(size_t bytes)
{
    void *p = NULL;
    const size_t n = (bytes ? bytes : 1) + 63 - ((bytes ? bytes : 1) + 63) % 64;
    if (posix_memalign(&p, 64, n)) return NULL;
    /* ACE_LIN_POISON_MEMORY=1, a check for the tests (tests/test_poisoned_memory.py): every
       byte 0xFF, a NaN in every double, so a result that depends on memory nothing wrote
       turns to NaN or changes. getenv only reads the environment: safe from threads. */
    const char *poison = getenv("ACE_LIN_POISON_MEMORY");
    if (poison && poison[0] == '1') memset(p, 0xFF, n);
    return p;
}

#define LINES(n, type) acelin_line_alloc((size_t)(n) * sizeof(type))

acelin_ws *acelin_ws_new(const acelin_model *m, int cap, int design)
{
    acelin_ws *w = acelin_line_alloc(sizeof(acelin_ws));
    if (!w) return NULL;
    memset(w, 0, sizeof *w);
    if (cap < 1) cap = 1;
    w->cap = cap;
    size_t c = (size_t)cap, nA = (size_t)(m->n_A ? m->n_A : 1);
    w->A = LINES(nA, double);
    w->dEdA = LINES(nA, double);
    w->nb_bond = LINES(c, int64_t);
    w->nb_block = LINES(c, int);
    w->nb_far = LINES(c, int);
    w->nb_u = LINES(3 * c, double);
    w->nb_r = LINES(c, double);
    /* blocks of four: every near and far range of a block may end in a partial one; whole
       32-byte vectors are stored there (aligned) */
    const size_t nbat = c / 4 + 2 * (size_t)m->n_ablock + 1;
    w->R = LINES(nbat * 4 * m->n_rtot, double);
    w->dR = LINES(nbat * 4 * m->n_rtot, double);
    if (w->R && w->dR && !m->chan) { /* the layout's gaps, which acelin_radial_batch never writes */
        memset(w->R, 0, nbat * 4 * m->n_rtot * sizeof(double));
        memset(w->dR, 0, nbat * 4 * m->n_rtot * sizeof(double));
    }
    w->Rb = m->chan ? LINES(nbat * 4 * m->n_rpad, double) : NULL;
    w->dRb = m->chan ? LINES(nbat * 4 * m->n_rpad, double) : NULL;
    w->nb_pair = LINES(c, int);
    w->Y = LINES(nbat * 4 * m->n_lm, double);
    w->dY = LINES(nbat * 12 * m->n_lm, double);
    w->nb_slot = LINES(c, int);
    w->bu = LINES(nbat * 16, double);
    w->blk_start = LINES((size_t)(m->n_ablock + 1), int);
    w->blk_near = LINES((size_t)m->n_ablock, int);
    w->order = LINES(c + 1, int); /* + 1: the dump slot of acelin_group_neighbours */
    w->sp_start = LINES((size_t)(m->ns + 1), int);
    w->sp_near = LINES((size_t)m->ns, int);
    int ok = w->A && w->dEdA && w->nb_bond && w->nb_block && w->nb_far && w->nb_u && w->nb_r && w->R &&
             w->dR && (!m->chan || (w->Rb && w->dRb)) && w->nb_pair && w->Y && w->dY && w->nb_slot && w->bu && w->blk_start && w->blk_near && w->order && w->sp_start && w->sp_near;
    if (ok && design) {
        int64_t sup_max = 1; /* support entries of the largest species block */
        for (int s = 0; s < m->ns; ++s) {
            int64_t k = m->sup_start[m->species_basis_start[s + 1]] - m->sup_start[m->species_basis_start[s]];
            if (k > sup_max) sup_max = k;
        }
        w->D = LINES((size_t)(m->n_int ? m->n_int : 1) * 3 * ACELIN_TILE, double);
        w->g = LINES((size_t)sup_max, double);
        ok = w->D && w->g;
    }
    if (!ok) { acelin_ws_free(w); return NULL; }
    return w;
}

/* w->order: the active neighbours grouped by atomic-base block (species, or one block with
 * contracted channels), near ones first in each group, in neighbour order within each part;
 * w->sp_start[z] .. w->sp_near[z] near, .. w->sp_start[z+1] far. */
void acelin_group_neighbours(const acelin_model *m, acelin_ws *w, int na)
{
    const int nblk = m->n_ablock;
    if (nblk == 1) { /* one block (one species, or contracted channels): counters in registers */
        int nn = 0, nf = 0;
        int *far = w->nb_slot; /* scratch: acelin_harmonics writes the slots later */
        for (int j = 0; j < na; ++j) {
            const int f = w->nb_far[j];
            w->order[nn] = j;
            far[nf] = j;
            nn += !f;
            nf += f;
        }
        memcpy(w->order + nn, far, (size_t)nf * sizeof(int));
        w->sp_start[0] = 0;
        w->sp_near[0] = nn;
        w->sp_start[1] = na;
        return;
    }
    int *cnt = w->sp_start, fill[64]; /* at most 64 species (model.c) */
    memset(cnt, 0, (size_t)(nblk + 1) * sizeof(int));
    for (int j = 0; j < na; ++j) cnt[w->nb_block[j] + 1]++;
    for (int z = 0; z < nblk; ++z) cnt[z + 1] += cnt[z];
    for (int z = 0; z < nblk; ++z) fill[z] = cnt[z];
    for (int far = 0; far <= 1; ++far) {
        for (int j = 0; j < na; ++j) { /* branch-free: near and far ones alternate unpredictably */
            const int z = w->nb_block[j], in = w->nb_far[j] == far;
            w->order[in ? fill[z] : w->cap] = j; /* the others to the dump slot */
            fill[z] += in;
        }
        if (!far)
            for (int z = 0; z < nblk; ++z) w->sp_near[z] = fill[z];
    }
}
