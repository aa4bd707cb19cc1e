package starlark

import (
	"go.starlark.net/starlark"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
)

// durability is the suite option of suite(durability = …).
func durability(on bool) attest.Option {
	if on {
		return attest.WithDurability()
	}
	return func(*engine.Config) {}
}

// builtinPowerLoss is power_loss(name).
func builtinPowerLoss(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name nodeNameArg
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
		return nil, err
	}
	if err := testOf(thread).ops(thread).PowerLoss(name.name); err != nil {
		return nil, err
	}
	return starlark.None, nil
}
