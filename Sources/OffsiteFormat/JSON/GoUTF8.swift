/// UTF-8 decoding with Go's rules (`unicode/utf8.DecodeRune`): any invalid or truncated
/// sequence yields one replacement step of width 1, so every byte is accounted for.
enum GoUTF8 {
    /// A decoded step: `scalar` is nil for an invalid byte (Go's `RuneError` with width 1).
    struct Step {
        var scalar: Unicode.Scalar?
        var width: Int
    }

    static func decode(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Step {
        let n = b.count - i
        let b0 = b[i]
        if b0 < 0x80 { return Step(scalar: Unicode.Scalar(b0), width: 1) }
        @inline(__always) func cont(_ k: Int) -> UInt32? {
            guard k < n else { return nil }
            let c = b[i + k]
            return c & 0xC0 == 0x80 ? UInt32(c & 0x3F) : nil
        }
        switch b0 {
        case 0xC2...0xDF:
            guard let c1 = cont(1) else { break }
            return Step(scalar: Unicode.Scalar(UInt32(b0 & 0x1F) << 6 | c1), width: 2)
        case 0xE0...0xEF:
            guard let c1 = cont(1), let c2 = cont(2) else { break }
            let v = UInt32(b0 & 0x0F) << 12 | c1 << 6 | c2
            guard v >= 0x800, !(0xD800...0xDFFF).contains(v) else { break }
            return Step(scalar: Unicode.Scalar(v), width: 3)
        case 0xF0...0xF4:
            guard let c1 = cont(1), let c2 = cont(2), let c3 = cont(3) else { break }
            let v = UInt32(b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
            guard v >= 0x10000, v <= 0x10FFFF else { break }
            return Step(scalar: Unicode.Scalar(v), width: 4)
        default:
            break
        }
        return Step(scalar: nil, width: 1)
    }

    /// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and ASCII space.
    static func isPrint(_ s: Unicode.Scalar) -> Bool {
        if s.value == 0x20 { return true }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .nonspacingMark, .spacingMark, .enclosingMark,
            .decimalNumber, .letterNumber, .otherNumber,
            .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation,
            .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return true
        default:
            return false
        }
    }
}
