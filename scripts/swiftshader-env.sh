# Sourced by the test and CLI scripts: when no Vulkan driver is configured and Debian chromium's SwiftShader is
# present, point Dawn (npm `webgpu`) at it, so WebGPU works on machines without a GPU.
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ] \
   && [ ! -d /usr/share/vulkan/icd.d ] && [ ! -d /etc/vulkan/icd.d ]; then
  export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
  export LD_LIBRARY_PATH=/usr/lib/chromium${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
