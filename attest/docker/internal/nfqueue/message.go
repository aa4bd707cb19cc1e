//go:build linux

package nfqueue

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
)

// The nfnetlink_queue protocol, from linux/netfilter/nfnetlink_queue.h and
// linux/netfilter/nfnetlink.h. Attribute values are big-endian; netlink
// headers are in host order.
const (
	subsysQueue = 3 // NFNL_SUBSYS_QUEUE

	msgPacket  = 0 // NFQNL_MSG_PACKET: kernel → user
	msgVerdict = 1 // NFQNL_MSG_VERDICT: user → kernel
	msgConfig  = 2 // NFQNL_MSG_CONFIG: user → kernel

	// Attributes of a packet or verdict message (enum nfqnl_attr_type).
	attrPacketHdr  = 1  // NFQA_PACKET_HDR
	attrVerdictHdr = 2  // NFQA_VERDICT_HDR
	attrMark       = 3  // NFQA_MARK
	attrInDev      = 5  // NFQA_IFINDEX_INDEV
	attrOutDev     = 6  // NFQA_IFINDEX_OUTDEV
	attrPayload    = 10 // NFQA_PAYLOAD
	attrCapLen     = 13 // NFQA_CAP_LEN

	// Attributes of a config message (enum nfqnl_attr_config).
	attrCfgCmd    = 1 // NFQA_CFG_CMD
	attrCfgParams = 2 // NFQA_CFG_PARAMS
	attrCfgMaxLen = 3 // NFQA_CFG_QUEUE_MAXLEN
	attrCfgMask   = 4 // NFQA_CFG_MASK
	attrCfgFlags  = 5 // NFQA_CFG_FLAGS

	cmdBind = 1 // NFQNL_CFG_CMD_BIND

	copyMeta   = 1 // NFQNL_COPY_META
	copyPacket = 2 // NFQNL_COPY_PACKET

	flagFailOpen = 1 // NFQA_CFG_F_FAIL_OPEN

	// attrTypeMask strips NLA_F_NESTED and NLA_F_NET_BYTEORDER.
	attrTypeMask = 0x3fff
)

// msgType is the netlink message type of a queue message.
func msgType(m uint16) netlink.HeaderType { return netlink.HeaderType(subsysQueue<<8 | m) }

// nfgenHeader is struct nfgenmsg: family, version NFNETLINK_V0, and the
// queue number in network order.
func nfgenHeader(queue uint16) []byte {
	return []byte{0 /* AF_UNSPEC */, 0, byte(queue >> 8), byte(queue)}
}

// configMessage binds the queue and sets how packets are copied, how many
// the kernel may hold and whether it lets excess packets through.
func configMessage(queue uint16, cfg Config) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	// struct nfqnl_msg_config_cmd { __u8 command; __u8 _pad; __be16 pf; }
	ae.Bytes(attrCfgCmd, []byte{cmdBind, 0, 0, 0})
	// struct nfqnl_msg_config_params { __be32 copy_range; __u8 copy_mode; }
	// is packed: five bytes.
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, cfg.CopyRange)
	params[4] = copyPacket
	if cfg.CopyRange == 0 {
		params[4] = copyMeta
	}
	ae.Bytes(attrCfgParams, params)
	if cfg.MaxLen > 0 {
		ae.Uint32(attrCfgMaxLen, cfg.MaxLen)
	}
	var flags uint32
	if cfg.FailOpen {
		flags |= flagFailOpen
	}
	ae.Uint32(attrCfgFlags, flags)
	ae.Uint32(attrCfgMask, flagFailOpen)
	attrs, err := ae.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode queue config: %w", err)
	}
	return append(nfgenHeader(queue), attrs...), nil
}

// verdictMessage is the body of a verdict for one packet.
func verdictMessage(queue uint16, id uint32, v Verdict) []byte {
	b := make([]byte, 0, 4+4+8)
	b = append(b, nfgenHeader(queue)...)
	// One attribute: NFQA_VERDICT_HDR, struct nfqnl_msg_verdict_hdr
	// { __be32 verdict; __be32 id; }.
	b = binary.NativeEndian.AppendUint16(b, 4+8)
	b = binary.NativeEndian.AppendUint16(b, attrVerdictHdr)
	b = binary.BigEndian.AppendUint32(b, uint32(v))
	b = binary.BigEndian.AppendUint32(b, id)
	return b
}

// parsePacket decodes the body of a packet message. The payload aliases
// data.
func parsePacket(data []byte) (Packet, error) {
	var p Packet
	if len(data) < 4 {
		return p, fmt.Errorf("packet message of %d bytes is too short", len(data))
	}
	var haveHdr bool
	for b := data[4:]; len(b) >= 4; {
		n := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) & attrTypeMask
		if n < 4 || n > len(b) {
			return p, fmt.Errorf("packet attribute of length %d in %d bytes", n, len(b))
		}
		v := b[4:n:n]
		switch typ {
		case attrPacketHdr:
			// struct nfqnl_msg_packet_hdr { __be32 packet_id;
			// __be16 hw_protocol; __u8 hook; } __attribute__((packed))
			if len(v) < 7 {
				return p, fmt.Errorf("packet header of %d bytes is too short", len(v))
			}
			p.ID = binary.BigEndian.Uint32(v)
			p.HWProtocol = binary.BigEndian.Uint16(v[4:])
			p.Hook = v[6]
			haveHdr = true
		case attrMark:
			p.Mark = be32(v)
		case attrInDev:
			p.InDev = be32(v)
		case attrOutDev:
			p.OutDev = be32(v)
		case attrPayload:
			p.Payload = v
		case attrCapLen:
			p.Len = be32(v)
		}
		n = (n + 3) &^ 3
		if n > len(b) {
			n = len(b)
		}
		b = b[n:]
	}
	if !haveHdr {
		return p, fmt.Errorf("packet message has no packet header")
	}
	if p.Len == 0 {
		p.Len = uint32(len(p.Payload))
	}
	return p, nil
}

// be32 reads a big-endian 32-bit attribute value, 0 if it is short.
func be32(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}
