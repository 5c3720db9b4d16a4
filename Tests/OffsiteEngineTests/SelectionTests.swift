import Foundation
import OffsiteTesting
import Testing

@testable import OffsiteEngine

/// Backup selection: Go's `filepath.Match`, restic's `internal/filter` and the selection options,
/// checked against transcribed test vectors here, option by option in
/// `SelectionTests+Options.swift`, and against the restic binary in `SelectionTests+Oracle.swift`.
@Suite struct SelectionTests {
    // MARK: Go's filepath.Match (test vectors from Go's path/filepath/match_test.go)

    struct GoMatchCase: Sendable, CustomTestStringConvertible {
        var pattern: String, name: String, match: Bool, bad: Bool
        init(_ pattern: String, _ name: String, _ match: Bool, bad: Bool = false) {
            (self.pattern, self.name, self.match, self.bad) = (pattern, name, match, bad)
        }
        var testDescription: String { "Match(\(pattern), \(name))" }
    }

    static let goMatchCases: [GoMatchCase] = [
        .init("abc", "abc", true), .init("*", "abc", true), .init("*c", "abc", true), .init("a*", "a", true),
        .init("a*", "abc", true), .init("a*", "ab/c", false), .init("a*/b", "abc/b", true), .init("a*/b", "a/c/b", false),
        .init("a*b*c*d*e*/f", "axbxcxdxe/f", true), .init("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
        .init("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false), .init("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
        .init("a*b?c*x", "abxbbxdbxebxczzx", true), .init("a*b?c*x", "abxbbxdbxebxczzy", false),
        .init("ab[c]", "abc", true), .init("ab[b-d]", "abc", true), .init("ab[e-g]", "abc", false),
        .init("ab[^c]", "abc", false), .init("ab[^b-d]", "abc", false), .init("ab[^e-g]", "abc", true),
        .init("a\\*b", "a*b", true), .init("a\\*b", "ab", false), .init("a?b", "a☺b", true),
        .init("a[^a]b", "a☺b", true), .init("a???b", "a☺b", false), .init("a[^a][^a][^a]b", "a☺b", false),
        .init("[a-ζ]*", "α", true), .init("*[a-ζ]", "A", false), .init("a?b", "a/b", false), .init("a*b", "a/b", false),
        .init("[\\]a]", "]", true), .init("[\\-]", "-", true), .init("[x\\-]", "x", true), .init("[x\\-]", "-", true),
        .init("[x\\-]", "z", false), .init("[\\-x]", "x", true), .init("[\\-x]", "-", true), .init("[\\-x]", "a", false),
        .init("[]a]", "]", false, bad: true), .init("[-]", "-", false, bad: true), .init("[x-]", "x", false, bad: true),
        .init("[x-]", "-", false, bad: true), .init("[x-]", "z", false, bad: true), .init("[-x]", "x", false, bad: true),
        .init("[-x]", "-", false, bad: true), .init("[-x]", "a", false, bad: true), .init("\\", "a", false, bad: true),
        .init("[a-b-c]", "a", false, bad: true), .init("[", "a", false, bad: true), .init("[^", "a", false, bad: true),
        .init("[^bc", "a", false, bad: true), .init("a[", "a", false, bad: true), .init("a[", "ab", false, bad: true),
        .init("a[", "x", false, bad: true), .init("a/b[", "x", false, bad: true), .init("*x", "xxx", true),
        // Not in Go's table: a mismatch in the first chunk returns before later chunks are parsed.
        .init("x*[", "y", false), .init("[a]*[", "[a]*[", false), .init("[a]*[", "ab", false, bad: true),
    ]

    @Test(arguments: goMatchCases)
    func goFilepathMatch(_ c: GoMatchCase) {
        let result = Result(catching: { () throws(GoFilepath.BadPattern) in
            try GoFilepath.match(Array(c.pattern.utf8)[...], Array(c.name.utf8)[...])
        })
        switch result {
        case .success(let matched): #expect(!c.bad && matched == c.match)
        case .failure: #expect(c.bad)
        }
    }

    @Test(arguments: [
        ("", "."), ("abc", "abc"), ("a//b", "a/b"), ("a/./b", "a/b"), ("a/../b", "b"), ("/../a", "/a"), ("../../a", "../../a"),
        ("a/b/../../..", ".."), ("/", "/"), ("//a//", "/a"), ("./", "."), ("/a/b/c/../../d/", "/a/d"),
        // Go's own table (path/filepath TestClean).
        ("abc/", "abc"), ("..", ".."), ("../..", "../.."), ("/..", "/"), ("/../..", "/"), ("abc/def/..", "abc"),
        ("abc/../..", ".."), ("abc/./../def", "def"), ("../abc/./def/..", "../abc"), ("/abc/def/../../..", "/"),
        ("abc/def/../ghi/../jkl", "abc/jkl"), ("abc//./../def", "def"), ("abc/../../././../def", "../../def"), (".", "."),
        ("/./", "/"), ("./a/..", "."), ("..a", "..a"), ("a..", "a.."), (".../x", ".../x"),
    ])
    func goFilepathClean(_ path: String, _ cleaned: String) {
        #expect(String(decoding: GoFilepath.clean(Array(path.utf8)[...]), as: UTF8.self) == cleaned)
        // A slice that does not start at index 0 cleans the same.
        let padded = Array(("xx" + path).utf8)
        #expect(String(decoding: GoFilepath.clean(padded[2...]), as: UTF8.self) == cleaned)
    }

    @Test func goToLowerUsesSimpleMappingPerRune() {
        func lower(_ s: String) -> String { String(decoding: GoFilepath.toLower(Array(s.utf8)), as: UTF8.self) }
        #expect(lower("ABC/Def.TXT") == "abc/def.txt")
        #expect(lower("ÄÖÜ") == "äöü")
        #expect(lower("İSTANBUL") == "istanbul")  // Go maps U+0130 to plain "i"; full mapping would add U+0307
        #expect(lower("ΣΑΣ") == "σασ")  // no final-sigma context rule
        #expect(GoFilepath.toLower([0x41, 0xFF, 0xC3, 0x84]) == [0x61, 0xEF, 0xBF, 0xBD, 0xC3, 0xA4])
    }

    // MARK: restic's filter.Match / ChildMatch / List (vectors from internal/filter/filter_test.go)

    static let matchCases: [(String, String, Bool)] = [
        ("", "", true), ("", "foo", true), ("", "/x/y/z/foo", true), ("*.go", "/foo/bar/test.go", true),
        ("*.c", "/foo/bar/test.go", false), ("*", "/foo/bar/test.go", true), ("**", "/foo/bar/test.go", true),
        ("foo*", "/foo/bar/test.go", true), ("bar*", "/foo/bar/test.go", true), ("/bar*", "/foo/bar/test.go", false),
        ("bar/*", "/foo/bar/test.go", true), ("baz/*", "/foo/bar/test.go", false), ("bar/test.go", "/foo/bar/test.go", true),
        ("bar/*.go", "/foo/bar/test.go", true), ("ba*/*.go", "/foo/bar/test.go", true), ("bb*/*.go", "/foo/bar/test.go", false),
        ("test.*", "/foo/bar/test.go", true), ("tesT.*", "/foo/bar/test.go", false), ("bar/*", "/foo/bar/baz", true),
        ("bar", "/foo/bar", true), ("/foo/bar", "/foo/bar", true), ("/foo/bar/", "/foo/bar", true), ("/foo/bar", "/foo/baz", false),
        ("/foo/bar", "/foo/baz/", false), ("/foo///bar", "/foo/bar", true), ("/foo/../bar", "/foo/bar", false),
        ("/foo/../bar", "/bar", true), ("/foo", "/foo/baz", true), ("/foo/", "/foo/baz", true), ("/foo/*", "/foo", false),
        ("/foo/*", "/foo/baz", true), ("bar", "/foo/bar/baz", true), ("bar", "/foo/bar/test.go", true),
        ("/foo/*test.*", "/foo/bar/test.go", false), ("/foo/*/test.*", "/foo/bar/test.go", true),
        ("/foo/*/bar/test.*", "/foo/bar/test.go", false), ("/*/*/bar/test.*", "/foo/bar/test.go", false),
        ("/*/*/bar/test.*", "/foo/bar/baz/test.go", false), ("/*/*/baz/test.*", "/foo/bar/baz/test.go", true),
        ("/*/foo/bar/test.*", "/foo/bar/baz/test.go", false), ("/foo/bar/test.*", "bar/baz/test.go", false),
        ("/x/y/bar/baz/test.*", "bar/baz/test.go", false), ("/x/y/bar/baz/test.c", "bar/baz/test.go", false),
        ("baz/test.*", "bar/baz/test.go", true), ("baz/tesT.*", "bar/baz/test.go", false), ("test.go", "bar/baz/test.go", true),
        ("*.go", "bar/baz/test.go", true), ("*.c", "bar/baz/test.go", false), ("sdk", "/foo/bar/sdk", true),
        ("sdk", "/foo/bar/sdk/test/sdk_foo.go", true),
        ("sdk/*/cpp/*/*vars*.html", "/usr/share/doc/libreoffice/sdk/docs/cpp/ref/a00517.html", false),
        ("foo/**/bar/*.go", "/home/user/foo/work/special/project/bar/test.go", true),
        ("foo/**/bar/*.go", "/home/user/foo/bar/test.go", true), ("foo/**/bar/*.go", "x/foo/bar/test.go", true),
        ("foo/**/bar/*.go", "foo/bar/test.go", true), ("foo/**/bar/*.go", "foo/bar/baz/bar/test.go", true),
        ("foo/**/bar/*.go", "/home/user/foo/test.c", false), ("foo/**/bar/*.go", "bar/foo/main.go", false),
        ("foo/**/bar/*.go", "/foo/bar/main.go", true), ("foo/**/bar/*.go", "bar/main.go", false),
        ("foo/**/bar", "/home/user/foo/x/y/bar", true), ("foo/**/bar", "/home/user/foo/x/y/bar/main.go", true),
        ("foo/**/bar/**/x", "/home/user/foo/bar/x", true), ("foo/**/bar/**/x", "/home/user/foo/blaaa/blaz/bar/shared/work/x", true),
        ("user/**/important*", "/home/user/work/x/y/hidden/x", false),
        ("user/**/hidden*/**/c", "/home/user/work/x/y/hidden/z/a/b/c", true), ("c:/foo/*test.*", "c:/foo/bar/test.go", false),
        ("c:/foo", "c:/foo/bar", true), ("c:/foo/", "c:/foo/bar", true), ("c:/foo/*/test.*", "c:/foo/bar/test.go", true),
        ("c:/foo/*/bar/test.*", "c:/foo/bar/test.go", false),
        // Beyond restic's table: "/" cleans to a pattern restic treats as "/**".
        ("/", "/anything/at/all", true), ("/", "relative", false), ("!*.go", "/x/a.go", true),
    ]

    @Test(arguments: matchCases)
    func resticMatch(_ pattern: String, _ path: String, _ expected: Bool) throws {
        #expect(try Pattern(pattern).matches(path) == expected)
    }

    static let childMatchCases: [(String, String, Bool)] = [
        ("", "", true), ("", "/foo", true), ("", "/x/y/z/foo", true), ("foo/bar", "/foo", true), ("baz/bar", "/foo", true),
        ("foo", "/foo/bar", true), ("bar", "/foo", true), ("baz", "/foo/bar", true), ("*", "/foo", true), ("*", "/foo/bar", true),
        ("/foo/bar", "/foo", true), ("/foo/bar/baz", "/foo", true), ("/foo/bar/baz", "/foo/bar", true),
        ("/foo/bar/baz", "/foo/baz", false), ("/foo/**/baz", "/foo/bar/baz", true), ("/foo/**/baz", "/foo/bar/baz/blah", true),
        ("/foo/**/qux", "/foo/bar/baz/qux", true), ("/foo/**/qux", "/foo/bar/baz", true), ("/foo/**/qux", "/foo/bar/baz/boo", true),
        ("/foo/**", "/foo/bar/baz", true), ("/foo/**", "/foo/bar", true), ("foo/**/bar/**/x", "/home/user/foo", true),
        ("foo/**/bar/**/x", "/home/user/foo/bar", true), ("foo/**/bar/**/x", "/home/user/foo/blaaa/blaz/bar/shared/work/x", true),
        ("/foo/*/qux", "/foo/bar", true), ("/foo/*/qux", "/foo/bar/boo", false), ("/foo/*/qux", "/foo/bar/boo/xx", false),
        ("/baz/bar", "/foo", false), ("/foo", "/foo/bar", true), ("/*", "/foo", true), ("/*", "/foo/bar", true),
        ("/**", "/foo", true), ("/*/**", "/foo", true), ("/*/**", "/foo/bar", true), ("/*/bar", "/foo", true),
        ("/bar/*", "/foo", false), ("/foo/*/baz", "/foo/bar", true), ("/foo/*/baz", "/foo/baz", true),
        ("/foo/*/baz", "/bar/baz", false), ("/**/*", "/foo", true), ("/**/bar", "/foo/bar", true),
    ]

    @Test(arguments: childMatchCases)
    func resticChildMatch(_ pattern: String, _ path: String, _ expected: Bool) throws {
        #expect(try Pattern(pattern).childMayMatch(path) == expected)
    }

    struct ListCase: Sendable {
        var patterns: [String], path: String, match: Bool, child: Bool
        init(_ patterns: [String], _ path: String, _ match: Bool, _ child: Bool) {
            (self.patterns, self.path, self.match, self.child) = (patterns, path, match, child)
        }
    }

    static let listCases: [ListCase] = [
        .init([], "/foo/bar/test.go", false, false), .init(["*.go"], "/foo/bar/test.go", true, true),
        .init(["*.go"], "/foo/bar", false, true), .init(["*.c"], "/foo/bar/test.go", false, true),
        .init(["*.go", "*.c"], "/foo/bar/test.go", true, true), .init(["*"], "/foo/bar/test.go", true, true),
        .init(["x"], "/foo/bar/test.go", false, true), .init(["?"], "/foo/bar/test.go", false, true),
        .init(["?", "x"], "/foo/bar/x", true, true), .init(["/*/*/bar/test.*"], "/foo/bar/test.go", false, false),
        .init(["/*/*/bar/test.*"], "/foo/bar/bar", false, true), .init(["/*/*/bar/test.*", "*.go"], "/foo/bar/test.go", true, true),
        .init(["", "*.c"], "/foo/bar/test.go", false, true), .init(["!**", "*.go"], "/foo/bar/test.go", true, true),
        .init(["!**", "*.c"], "/foo/bar/test.go", false, true), .init(["/foo/*/test.*", "!*.c"], "/foo/bar/test.c", false, false),
        .init(["/foo/*/test.*", "!*.c"], "/foo/bar/test.go", true, true),
        .init(["/foo/*/*", "!test.*", "*.c"], "/foo/bar/test.go", false, true),
        .init(["/foo/*/*", "!test.*", "*.c"], "/foo/bar/test.c", true, true),
        .init(["/foo/*/*", "!test.*", "*.c"], "/foo/bar/file.go", true, true),
        .init(["/**/*", "!/foo", "/foo/*", "!/foo/bar"], "/foo/other/test.go", true, true),
        .init(["/**/*", "!/foo", "/foo/*", "!/foo/bar"], "/foo/bar", false, false),
        .init(["/**/*", "!/foo", "/foo/*", "!/foo/bar"], "/foo/bar/test.go", false, false),
        .init(["/**/*", "!/foo", "/foo/*", "!/foo/bar"], "/foo/bar/test.go/child", false, false),
        .init(["/**/*", "!/foo", "/foo/*", "!/foo/bar", "/foo/bar/test*"], "/foo/bar/test.go/child", true, true),
        .init(["/foo/bar/*"], "/foo", false, true), .init(["/foo/bar/*", "!/foo/bar/[a-m]*"], "/foo", false, true),
        .init(["/foo/**/test.c"], "/foo/bar/foo/bar/test.c", true, true), .init(["/foo/*/test.c"], "/foo/bar/foo/bar/test.c", false, false),
    ]

    @Test(arguments: listCases)
    func resticList(_ c: ListCase) throws {
        let list = PatternList(c.patterns)
        #expect(try list.matches(c.path) == c.match)
        let both = try list.matchesWithChild(FSPath(c.path))
        #expect(both.matched == c.match && both.childMayMatch == c.child)
    }

    @Test func emptyPathsAndBadPatternsThrow() {
        #expect(throws: EngineError.self) { try Pattern("test").matches("") }
        #expect(throws: EngineError.self) { try Pattern("test").childMayMatch("") }
        #expect(throws: EngineError.self) { try PatternList(["test"]).matches("") }
        #expect(throws: EngineError.self) { try PatternList(["test/["]).matches("test/example") }
        #expect(throws: EngineError.self) { try PatternList(["test/**/["]).matches("test/example") }
        // Validation (restic's ValidatePatterns) matches each component against itself.
        #expect(PatternList(["ok/*.c", "a[", "", "x/[]y]", "tail\\"]).invalidPatterns == ["a[", "x/[]y]", "tail\\"])
        #expect(PatternList(["[a]*["]).invalidPatterns.isEmpty)  // slips through, as in restic
    }

    @Test func caseInsensitiveListLowercasesPatternAndPath() throws {
        let list = PatternList(["*.JPG", "/Home/USER/x", "istanbul.txt"], caseInsensitive: true)
        #expect(try list.matches("/a/photo.jpg"))
        #expect(try list.matches("/a/PHOTO.Jpg"))
        #expect(try list.matches("/home/user/X/y"))
        #expect(try list.matches("/a/İstanbul.txt"))
        #expect(try !list.matches("/a/photo.png"))
        #expect(try !PatternList(["*.JPG"]).matches("/a/photo.jpg"))
    }
}
