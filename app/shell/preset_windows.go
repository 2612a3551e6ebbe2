//go:build windows

package shell

import (
	"errors"

	"golang.org/x/sys/windows/registry"
)

// registryKey holds the MODE and SERVER_URL the MSI was installed with
// (msiexec /i HealthHub.msi MODE=clinic SERVER_URL=https://…).
const registryKey = `SOFTWARE\HealthHub\Desktop`

func machinePreset() (Preset, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, registryKey, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return Preset{}, nil
	}
	if err != nil {
		return Preset{}, err
	}
	defer k.Close()
	var p Preset
	p.Mode, _, _ = k.GetStringValue("Mode")
	p.ServerURL, _, _ = k.GetStringValue("ServerURL")
	return p, nil
}
