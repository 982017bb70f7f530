# Sourced by bench drivers: prints a one-line description of this machine (CPU model, cores, GPU).
machine_description() {
  local cpu cores gpu
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
  cores=$(nproc)
  gpu=$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader | head -1 || echo none)
  echo "${cpu:-unknown CPU}, ${cores} cores, GPU: ${gpu}"
}
