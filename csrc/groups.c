/* groups.c - atoms grouped by species, for the kernels that take several atoms of one
 * species at once (the products of four atoms: compute.c; the grade's map: grade.c). */
#include <stdlib.h>

#include "workspace.h"

int *acelin_species_groups(const acelin_model *m, int n_atoms, const int *species, int group, int *n_groups)
{
    int *pos = calloc((size_t)m->ns + 1, sizeof(int)); /* counts, then each species' next slot */
    if (!pos) return NULL;
    for (int i = 0; i < n_atoms; ++i) pos[species[i] + 1]++;
    int g = 0;
    for (int s = 0; s < m->ns; ++s) g += (pos[s + 1] + group - 1) / group;
    /* layout: [g+1] group starts into the atom list, then the atom list [n_atoms] */
    int *out = malloc(((size_t)g + 1 + (size_t)n_atoms) * sizeof(int));
    if (!out) { free(pos); return NULL; }
    int *start = out, *atoms = out + g + 1, k = 0;
    for (int s = 0; s < m->ns; ++s) {
        pos[s + 1] += pos[s];
        for (int a = pos[s]; a < pos[s + 1]; a += group) start[k++] = a;
    }
    start[k] = n_atoms;
    for (int i = 0; i < n_atoms; ++i) atoms[pos[species[i]]++] = i;
    free(pos);
    *n_groups = g;
    return out;
}
