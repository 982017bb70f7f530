# Sourced by bench drivers: prints a one-line description of this machine (CPU model, cores, GPU).
machine_description() {
  local cpu cores gpu
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
  cores=$(nproc)
  # The vector width moves training speed by ~2x between machines that /proc names alike ("AMD EPYC").
  local family model vec
  family=$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
  model=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
  vec=$(grep -m1 '^flags' /proc/cpuinfo | grep -qw avx512f && echo AVX-512 || (grep -m1 '^flags' /proc/cpuinfo | grep -qw avx2 && echo AVX2 || echo SSE))
  cpu="${cpu:-unknown CPU} (family ${family:-?} model ${model:-?}, $vec)"
  gpu=$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader | head -1 || echo none)
  echo "${cpu}, ${cores} cores, GPU: ${gpu}"
}
