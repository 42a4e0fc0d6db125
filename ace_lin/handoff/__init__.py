"""Hand-off of MD snapshots to electronic-structure codes (VASP, QE, CP2K, xyz)."""
