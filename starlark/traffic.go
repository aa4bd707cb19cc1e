package starlark

import (
	"errors"
	"fmt"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/clstr-dev/clstr/attest"
)

// builtinTraffic is traffic(since=None).
func builtinTraffic(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var since starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "since?", &since); err != nil {
		return nil, err
	}
	var earlier []attest.Traffic
	switch v := since.(type) {
	case starlark.NoneType:
	case *trafficValue:
		if !v.t.Reading() {
			return nil, errors.New("traffic: since: want a reading, as traffic() without since returns it; this is the traffic since another reading")
		}
		earlier = append(earlier, v.t)
	default:
		return nil, fmt.Errorf("traffic: since: want a reading, as traffic() without since returns it, got %s", since.Type())
	}
	t, err := testOf(thread).ops(thread).Traffic(earlier...)
	if err != nil {
		return nil, err
	}
	return &trafficValue{t: t}, nil
}

// trafficValue is the Starlark value of traffic(): what the nodes sent
// each other. It is immutable.
type trafficValue struct{ t attest.Traffic }

var _ starlark.HasAttrs = (*trafficValue)(nil)

func (v *trafficValue) String() string {
	if v.t.Reading() {
		return fmt.Sprintf("<traffic: %v since counting began>", v.t.Total())
	}
	return fmt.Sprintf("<traffic: %v in %v>", v.t.Total(), v.t.Elapsed().Round(time.Millisecond))
}
func (v *trafficValue) Type() string          { return "traffic" }
func (v *trafficValue) Freeze()               {}
func (v *trafficValue) Truth() starlark.Bool  { return starlark.True }
func (v *trafficValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: traffic") }

// trafficAttrs are the fields and methods of traffic(), as the reference
// documents them.
var trafficAttrs = []Builtin{
	{Name: "packets", Signature: "traffic.packets", Summary: "the IPv4 packets the nodes sent each other, every pair together"},
	{Name: "bytes", Signature: "traffic.bytes", Summary: "the bytes of those packets, IP and transport headers included"},
	{Name: "seconds", Signature: "traffic.seconds", Summary: "the span counted over, in seconds"},
	{Name: "pairs", Signature: "traffic.pairs", Summary: "a dict from (src, dst) to struct(packets, bytes): what each node sent each other node"},
	{Name: "between", Signature: "traffic.between(src, dst)", Summary: "what the src nodes sent the dst nodes, as struct(packets, bytes)"},
	{Name: "per", Signature: "traffic.per(n)", Summary: "packets and bytes divided by n, as floats: the cost of each of n operations"},
}

func (v *trafficValue) AttrNames() []string { return attrNames(trafficAttrs) }

func (v *trafficValue) Attr(name string) (starlark.Value, error) {
	total := v.t.Total()
	switch name {
	case "packets":
		return starlark.MakeUint64(total.Packets), nil
	case "bytes":
		return starlark.MakeUint64(total.Bytes), nil
	case "seconds":
		return starlark.Float(v.t.Elapsed().Seconds()), nil
	case "pairs":
		d := starlark.NewDict(len(v.t.Pairs))
		for p, c := range v.t.Pairs {
			key := starlark.Tuple{starlark.String(p.From), starlark.String(p.To)}
			if err := d.SetKey(key, countStruct(starlark.MakeUint64(c.Packets), starlark.MakeUint64(c.Bytes))); err != nil {
				return nil, err
			}
		}
		d.Freeze()
		return d, nil
	case "between":
		return starlark.NewBuiltin("between", v.between), nil
	case "per":
		return starlark.NewBuiltin("per", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var n starlark.Value
			if err := starlark.UnpackArgs(b.Name(), args, kwargs, "n", &n); err != nil {
				return nil, err
			}
			f, ok := starlark.AsFloat(n)
			if !ok || f <= 0 {
				return nil, fmt.Errorf("per: n must be a number above 0 (how many operations the traffic served), got %s", n)
			}
			return countStruct(starlark.Float(float64(total.Packets)/f), starlark.Float(float64(total.Bytes)/f)), nil
		}), nil
	}
	return nil, nil
}

// between is traffic.between(src, dst).
func (v *trafficValue) between(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src, dst starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "src", &src, "dst", &dst); err != nil {
		return nil, err
	}
	from, err := trafficNames("src", src)
	if err != nil {
		return nil, err
	}
	to, err := trafficNames("dst", dst)
	if err != nil {
		return nil, err
	}
	c, err := v.t.Between(from, to)
	if err != nil {
		return nil, fmt.Errorf("between: %w", err)
	}
	return countStruct(starlark.MakeUint64(c.Packets), starlark.MakeUint64(c.Bytes)), nil
}

// trafficNames unpacks a side of between: a node's name, or a list or
// tuple of names.
func trafficNames(param string, v starlark.Value) ([]string, error) {
	if s, ok := v.(starlark.String); ok {
		return []string{string(s)}, nil
	}
	seq, ok := v.(starlark.Indexable)
	if _, isBytes := v.(starlark.Bytes); !ok || isBytes {
		return nil, fmt.Errorf("between: %s: want a node name such as \"n1\" or a list of names, got %s", param, v.Type())
	}
	names := make([]string, seq.Len())
	for i := range names {
		s, ok := seq.Index(i).(starlark.String)
		if !ok {
			return nil, fmt.Errorf("between: %s: want node names, got %s in the %s", param, seq.Index(i).Type(), v.Type())
		}
		names[i] = string(s)
	}
	return names, nil
}

// countStruct is an amount of traffic: struct(packets = …, bytes = …).
func countStruct(packets, bytes starlark.Value) *starlarkstruct.Struct {
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{"packets": packets, "bytes": bytes})
}
