import Foundation
import OffsiteTesting
import Testing

@testable import OffsiteCloud

/// offsite's SigV4 headers equal those botocore (AWS's own Python implementation, installed
/// with boto3) computes for the same request, time and credentials: methods, keys with spaces,
/// unicode, `+`, `=` and `/`, query strings, ranges, session tokens, regions, path and
/// virtual-host styles. The request paths offsite sends are also botocore's encoding of the keys.
@Suite struct SigV4OracleTests {
    struct Case: Codable {
        var method: String
        var endpoint: String
        var bucket: String
        var virtual: Bool
        var key: String?
        var params: [String: String] = [:]
        var headers: [String: String] = [:]
        var body = ""
        var region = "us-east-1"
        var accessKey = "AKIDEXAMPLE"
        var secretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        var token: String? = nil
        var time = 1_767_323_045.0
    }

    struct Signed: Codable, Equatable {
        var path: String
        var authorization: String
        var date: String
        var sha: String
        var token: String?
    }

    static let cases: [Case] = [
        Case(method: "GET", endpoint: "s3.amazonaws.com", bucket: "my-bucket", virtual: false, key: "config"),
        Case(method: "GET", endpoint: "s3.amazonaws.com", bucket: "my-bucket", virtual: true, key: "repo/data/ab/abcdef0123"),
        Case(
            method: "PUT", endpoint: "s3.eu-west-1.amazonaws.com", bucket: "b", virtual: false, key: "dir with spaces/a b.txt",
            headers: ["content-type": "application/octet-stream"], body: "hello world", region: "eu-west-1"),
        Case(method: "PUT", endpoint: "s3.amazonaws.com", bucket: "b", virtual: false, key: "ünïcødé/日本語/ファイル", body: "x"),
        Case(method: "GET", endpoint: "s3.amazonaws.com", bucket: "b", virtual: false, key: "a+b=c/d&e?f#g%h", region: "us-west-2"),
        Case(
            method: "GET", endpoint: "127.0.0.1:9000", bucket: "local", virtual: false, key: "data/00/0011",
            headers: ["range": "bytes=100-4195"]),
        Case(
            method: "GET", endpoint: "s3.us-west-004.backblazeb2.com", bucket: "b2-bucket", virtual: false, key: nil,
            params: ["list-type": "2", "prefix": "repo/data/", "continuation-token": "1a+b/c=d e"], region: "us-west-004"),
        Case(
            method: "HEAD", endpoint: "s3.amazonaws.com", bucket: "b", virtual: true, key: "keys/0123",
            token: "FwoGZXIvYXdzEJr//////////wEaDH+session/token=="),
        Case(
            method: "DELETE", endpoint: "s3.ap-southeast-2.amazonaws.com", bucket: "b", virtual: false, key: "locks/ff",
            region: "ap-southeast-2"),
        Case(
            method: "PUT", endpoint: "s3.eu-central-1.amazonaws.com", bucket: "new-bucket", virtual: false, key: nil,
            body: "<CreateBucketConfiguration><LocationConstraint>eu-central-1</LocationConstraint></CreateBucketConfiguration>",
            region: "eu-central-1"),
        Case(
            method: "PUT", endpoint: "s3.amazonaws.com", bucket: "b", virtual: false, key: "data/aa/aa",
            headers: ["x-amz-storage-class": "STANDARD_IA", "x-amz-meta-note": "  two   spaces  "], body: "pack"),
        Case(method: "GET", endpoint: "s3.amazonaws.com", bucket: "b", virtual: true, key: nil, params: ["list-type": "2", "prefix": ""]),
        Case(method: "GET", endpoint: "s3.amazonaws.com", bucket: "b", virtual: false, key: "~tilde-_.unreserved", time: 951_782_400),
    ]

    static let oracle = """
        import datetime, json, sys
        from unittest import mock
        from urllib.parse import quote
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        out = []
        for c in json.load(sys.stdin):
            host = (c['bucket'] + '.' + c['endpoint']) if c['virtual'] else c['endpoint']
            key = c.get('key')
            if c['virtual']:
                path = '/' + (quote(key, safe='/~') if key is not None else '')
            else:
                path = '/' + c['bucket'] + ('/' + quote(key, safe='/~') if key is not None else '')
            request = AWSRequest(method=c['method'], url='https://' + host + path, headers=dict(c['headers']),
                                 data=c['body'].encode(), params=c['params'])
            now = datetime.datetime.fromtimestamp(c['time'], datetime.timezone.utc)
            with mock.patch('botocore.auth.get_current_datetime', return_value=now):
                S3SigV4Auth(Credentials(c['accessKey'], c['secretKey'], c.get('token')), 's3', c['region']).add_auth(request)
            out.append({'path': path, 'authorization': request.headers['Authorization'], 'date': request.headers['X-Amz-Date'],
                        'sha': request.headers['X-Amz-Content-SHA256'], 'token': request.headers.get('X-Amz-Security-Token')})
        print(json.dumps(out))
        """

    func botocore(_ cases: [Case]) async throws -> [Signed] {
        guard let python = ProcessRunner.which("python3") else { throw FixtureError(message: "python3 is not installed") }
        let r = try await ProcessRunner.run(python, ["-c", Self.oracle], stdin: try JSONEncoder().encode(cases))
        guard r.status == 0 else {
            throw FixtureError(message: "botocore failed (install it with `pip install boto3`, or `make deps`): \(r.stderr)")
        }
        return try JSONDecoder().decode([Signed].self, from: r.stdout)
    }

    func offsite(_ c: Case) -> Signed {
        let config = S3Config(
            endpoint: c.endpoint, bucket: c.bucket, prefix: "", useHTTP: false, region: c.region, virtualHosted: c.virtual,
            storageClass: nil, connections: 1)
        let (host, path) = config.hostAndPath(key: c.key)
        let signer = SigV4(
            credentials: AWSCredentials(accessKeyID: c.accessKey, secretAccessKey: c.secretKey, sessionToken: c.token), region: c.region)
        let headers = signer.sign(
            method: c.method, path: path, query: c.params.map { ($0.key, $0.value) },
            headers: [("host", host)] + c.headers.map { ($0.key, $0.value) },
            payloadHash: SigV4.payloadHash(Data(c.body.utf8)), date: Date(timeIntervalSince1970: c.time))
        func value(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }
        return Signed(
            path: path, authorization: value("authorization") ?? "", date: value("x-amz-date") ?? "",
            sha: value("x-amz-content-sha256") ?? "",
            token: value("x-amz-security-token"))
    }

    @Test func signaturesEqualBotocores() async throws {
        let expected = try await botocore(Self.cases)
        #expect(expected.count == Self.cases.count)
        for (c, theirs) in zip(Self.cases, expected) {
            let ours = offsite(c)
            #expect(ours == theirs, "\(c.method) \(c.key ?? "(bucket)") \(c.params)")
        }
    }

    /// A changed secret, region, time, body or header changes the signature (the comparison
    /// above would not notice a signer that ignores an input botocore also ignores).
    @Test func everyInputIsSigned() throws {
        let base = Self.cases[2]
        let reference = offsite(base).authorization
        var variants: [Case] = []
        var c = base
        c.secretKey += "x"
        variants.append(c)
        c = base
        c.region = "eu-west-2"
        variants.append(c)
        c = base
        c.time += 1
        variants.append(c)
        c = base
        c.body += "!"
        variants.append(c)
        c = base
        c.headers["content-type"] = "text/plain"
        variants.append(c)
        c = base
        c.key = (c.key ?? "") + "2"
        variants.append(c)
        for v in variants { #expect(offsite(v).authorization != reference) }
    }

    @Test func locationsParseAsRestic() throws {
        let env: [String: String] = [:]
        let a = try S3Config.parse("s3:s3.amazonaws.com/bucket/some/prefix/", environment: env, options: [:])
        #expect(a.endpoint == "s3.amazonaws.com" && a.bucket == "bucket" && a.prefix == "some/prefix" && !a.useHTTP && a.virtualHosted)
        #expect(a.region == "us-east-1")
        let b = try S3Config.parse("s3:http://127.0.0.1:9000/local/repo", environment: env, options: ["s3.connections": "10"])
        #expect(b.endpoint == "127.0.0.1:9000" && b.bucket == "local" && b.prefix == "repo" && b.useHTTP && !b.virtualHosted)
        #expect(b.connections == 10)
        let c = try S3Config.parse("s3:s3.us-west-004.backblazeb2.com/my-b2", environment: env, options: [:])
        #expect(c.region == "us-west-004" && c.prefix == "" && !c.virtualHosted)
        let d = try S3Config.parse(
            "s3:https://s3.eu-west-1.amazonaws.com/b", environment: ["AWS_DEFAULT_REGION": "eu-west-3"],
            options: ["s3.bucket-lookup": "path", "s3.storage-class": "STANDARD_IA"])
        #expect(d.region == "eu-west-3" && !d.virtualHosted && d.storageClass == "STANDARD_IA")
        #expect(try S3Config.parse("s3:s3-eu-west-2.amazonaws.com/b", environment: env, options: [:]).region == "eu-west-2")
        #expect(try S3Config.parse("s3:h/b", environment: env, options: ["s3.region": "r1"]).region == "r1")
        #expect(throws: (any Error).self) { try S3Config.parse("s3:host-only", environment: env, options: [:]) }
        // Only `s3:` locations (it used to drop any three characters: found by the url fuzz target).
        #expect(throws: (any Error).self) { try S3Config.parse("xy:host/bucket", environment: env, options: [:]) }
        #expect(throws: (any Error).self) { try S3Config.parse("s3:h/b", environment: env, options: ["s3.bucket-lookup": "x"]) }
        #expect(throws: (any Error).self) { try S3Config.parse("s3:h/b", environment: env, options: ["s3.connections": "0"]) }
    }

    @Test func credentialsFromEnvironmentOrProfile() throws {
        #expect(
            try AWSCredentials.find(environment: [
                "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t", "HOME": "/nonexistent",
            ])
                == AWSCredentials(accessKeyID: "id", secretAccessKey: "s", sessionToken: "t"))
        #expect(throws: (any Error).self) { try AWSCredentials.find(environment: ["AWS_ACCESS_KEY_ID": "id", "HOME": "/nonexistent"]) }
        #expect(try AWSCredentials.find(environment: ["HOME": "/nonexistent"]) == nil)
        let file = NSTemporaryDirectory() + "offsite-aws-credentials-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(
            """
            [default]
            aws_access_key_id = default-id
            aws_secret_access_key = default-secret

            [backup]
            # the operators' profile
            aws_access_key_id=backup-id
            aws_secret_access_key=backup/secret+key
            aws_session_token = tok
            """.utf8
        ).write(to: URL(fileURLWithPath: file))
        #expect(
            try AWSCredentials.find(environment: ["AWS_SHARED_CREDENTIALS_FILE": file])
                == AWSCredentials(accessKeyID: "default-id", secretAccessKey: "default-secret"))
        #expect(
            try AWSCredentials.find(environment: ["AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "backup"])
                == AWSCredentials(accessKeyID: "backup-id", secretAccessKey: "backup/secret+key", sessionToken: "tok"))
        #expect(throws: (any Error).self) {
            try AWSCredentials.find(environment: ["AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "nope"])
        }
    }
}
