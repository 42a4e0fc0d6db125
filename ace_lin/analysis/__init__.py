"""Analysis of MD trajectories and of series computed on their snapshots."""
