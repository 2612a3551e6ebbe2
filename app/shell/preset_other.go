//go:build !windows

package shell

// machinePresetFile is where IT (or the Linux package's configuration
// management) presets the mode for every user of the machine.
const machinePresetFile = "/etc/healthhub/desktop.json"

func machinePreset() (Preset, error) { return readPresetFile(machinePresetFile) }
