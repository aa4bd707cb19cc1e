//go:build linux

package nfqueue

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/google/nftables/xt"
)

// attr encodes one netlink attribute with its padding.
func attr(typ uint16, v []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestConfigMessage(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []byte
	}{
		{
			name: "packet copy, maxlen, fail open",
			cfg:  Config{CopyRange: 0xffff, MaxLen: 4096, FailOpen: true},
			want: bytes.Join([][]byte{
				{0, 0, 0x10, 0x92}, // AF_UNSPEC, v0, queue 4242
				attr(attrCfgCmd, []byte{cmdBind, 0, 0, 0}),
				attr(attrCfgParams, []byte{0, 0, 0xff, 0xff, copyPacket}),
				attr(attrCfgMaxLen, []byte{0, 0, 0x10, 0}),
				attr(attrCfgFlags, []byte{0, 0, 0, 1}),
				attr(attrCfgMask, []byte{0, 0, 0, 1}),
			}, nil),
		},
		{
			name: "metadata only",
			cfg:  Config{},
			want: bytes.Join([][]byte{
				{0, 0, 0x10, 0x92},
				attr(attrCfgCmd, []byte{cmdBind, 0, 0, 0}),
				attr(attrCfgParams, []byte{0, 0, 0, 0, copyMeta}),
				attr(attrCfgFlags, []byte{0, 0, 0, 0}),
				attr(attrCfgMask, []byte{0, 0, 0, 1}),
			}, nil),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := configMessage(4242, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("config message\n got %s\nwant %s", hex.EncodeToString(got), hex.EncodeToString(tc.want))
			}
		})
	}
}

func TestVerdictMessage(t *testing.T) {
	got := verdictMessage(7, 0x01020304, Accept)
	want := append([]byte{0, 0, 0, 7}, attr(attrVerdictHdr, []byte{0, 0, 0, 1, 1, 2, 3, 4})...)
	if !bytes.Equal(got, want) {
		t.Errorf("verdict message\n got %x\nwant %x", got, want)
	}
}

func TestParsePacket(t *testing.T) {
	payload := []byte{0x45, 0, 0, 28, 1, 2, 3}
	body := bytes.Join([][]byte{
		{2, 0, 0, 1}, // AF_INET, v0, queue 1
		attr(attrPacketHdr, []byte{0, 0, 0, 42, 0x08, 0x00, 3}),
		attr(attrMark, []byte{0, 0, 0x12, 0x34}),
		attr(attrOutDev, []byte{0, 0, 0, 5}),
		attr(99, []byte{1, 2, 3}), // unknown attributes are skipped
		attr(attrPayload, payload),
		attr(attrCapLen, []byte{0, 0, 0x05, 0xdc}),
	}, nil)
	p, err := parsePacket(body)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != 42 || p.HWProtocol != 0x0800 || p.Hook != 3 || p.Mark != 0x1234 || p.OutDev != 5 || p.Len != 1500 || !bytes.Equal(p.Payload, payload) {
		t.Errorf("parsed %+v", p)
	}
	if !p.Truncated() {
		t.Error("a 7-byte payload of a 1500-byte packet is not reported as truncated")
	}

	bad := []struct {
		name string
		body []byte
	}{
		{"short", []byte{2, 0}},
		{"no header", append([]byte{2, 0, 0, 1}, attr(attrPayload, payload)...)},
		{"short header", append([]byte{2, 0, 0, 1}, attr(attrPacketHdr, []byte{0, 0, 0, 1})...)},
		{"attribute overruns", append([]byte{2, 0, 0, 1}, 0xff, 0, 1, 0)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := parsePacket(tc.body); err == nil {
				t.Errorf("parsed %+v, want an error", p)
			}
		})
	}
}

func TestParseDatagram(t *testing.T) {
	msg := func(typ uint16, body []byte) []byte {
		b := binary.NativeEndian.AppendUint32(nil, uint32(headerLen+len(body)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = append(b, make([]byte, 10)...)
		return append(b, body...)
	}
	pkt := append([]byte{2, 0, 0, 1}, attr(attrPacketHdr, []byte{0, 0, 0, 9, 0x86, 0xdd, 3})...)
	errBody := binary.NativeEndian.AppendUint32(nil, uint32(0x100000000-2)) // -ENOENT
	dgram := bytes.Join([][]byte{msg(uint16(msgType(msgPacket)), pkt), msg(2 /* NLMSG_ERROR */, errBody)}, nil)
	var c Conn
	pkts, err := c.parse(dgram)
	if len(pkts) != 1 || pkts[0].ID != 9 || pkts[0].HWProtocol != 0x86dd {
		t.Errorf("packets %+v", pkts)
	}
	if err == nil {
		t.Error("an error message in the datagram was not reported")
	}
}

func TestTargetInfo(t *testing.T) {
	tg := Target(0x0102, true)
	if tg.Name != "NFQUEUE" || tg.Rev != 3 {
		t.Fatalf("target %s rev %d, want NFQUEUE rev 3", tg.Name, tg.Rev)
	}
	info, err := xt.Marshal(0, tg.Rev, tg.Info)
	if err != nil {
		t.Fatal(err)
	}
	want := binary.NativeEndian.AppendUint16(nil, 0x0102)
	want = binary.NativeEndian.AppendUint16(want, 1)
	want = binary.NativeEndian.AppendUint16(want, 1)
	if !bytes.Equal(info, want) {
		t.Errorf("xt_NFQ_info_v3 %x, want %x", info, want)
	}
	info, _ = xt.Marshal(0, 3, Target(5, false).Info)
	if info[4] != 0 || info[5] != 0 {
		t.Errorf("without bypass the flags are %x, want 0", info[4:])
	}
}
