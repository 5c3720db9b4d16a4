import Foundation

extension TestServer {
    /// moto's S3 server checking signatures: the first `INITIAL_NO_AUTH_ACTION_COUNT` calls go
    /// unauthenticated and create an IAM user and its access key, after which every request must
    /// be signed with a key moto knows. Returns the server and the key (id, secret). moto then
    /// refuses wrong secrets, but also its own check of signed listings (ListObjectsV2 with a
    /// prefix), so use it for refused-credential paths, not for whole repositories.
    public static func motoCheckingSignatures() async throws -> (server: TestServer, keyID: String, secret: String) {
        let moto = try await TestServer(
            "moto_server", install: "pip install 'moto[server]'", environment: ["INITIAL_NO_AUTH_ACTION_COUNT": "2"]
        ) {
            ["-H", "127.0.0.1", "-p", String($0)]
        }
        let script = """
            import boto3, json
            kw = dict(endpoint_url='http://127.0.0.1:\(moto.port)', region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')
            iam = boto3.client('iam', **kw)
            iam.create_user(UserName='backup')
            key = iam.create_access_key(UserName='backup')['AccessKey']
            print(json.dumps([key['AccessKeyId'], key['SecretAccessKey']]))
            """
        guard let python = ProcessRunner.which("python3") else {
            throw ProcessRunner.NotFound(description: "python3 is not installed: apt-get install python3")
        }
        let made = try await ProcessRunner.run(python, ["-c", script])
        guard made.status == 0, let key = try? JSONSerialization.jsonObject(with: made.stdout) as? [String], key.count == 2 else {
            moto.stop()
            throw ProcessRunner.NotFound(description: "could not create an IAM key in moto: \(made.stderr.suffix(2000))")
        }
        return (moto, key[0], key[1])
    }
}
