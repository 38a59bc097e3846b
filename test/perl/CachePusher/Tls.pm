# Certificates for the TLS tests, made with openssl in a directory of the test's: a CA, and
# certificates it signed (a server's, a client's). Keys are 0600, as the worker asks of its key file.
package CachePusher::Tls;

use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Exporter 'import';

our @EXPORT = qw(make_ca make_cert tls_built);

my $dir;
sub certificate_dir { return $dir //= PostgreSQL::Test::Utils::tempdir('tls'); }

sub openssl
{
	system_or_bail('openssl', @_);
	return;
}

# A self-signed CA named $name; returns its certificate file.
sub make_ca
{
	my ($name) = @_;
	my $d = certificate_dir();
	openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$d/$name.key",
		'-out', "$d/$name.crt", '-days', '2', '-subj', "/CN=$name");
	return "$d/$name.crt";
}

# A certificate for $cn with subject alternative names $san (e.g. 'DNS:localhost,IP:127.0.0.1'),
# signed by the CA make_ca($ca) made; returns the certificate and key files.
sub make_cert
{
	my ($name, $ca, $cn, $san) = @_;
	my $d = certificate_dir();
	openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$d/$name.key", '-out', "$d/$name.csr",
		'-subj', "/CN=$cn");
	append_to_file("$d/$name.ext", "subjectAltName=$san\n");
	openssl('x509', '-req', '-in', "$d/$name.csr", '-CA', "$d/$ca.crt", '-CAkey', "$d/$ca.key",
		'-CAcreateserial', '-out', "$d/$name.crt", '-days', '2', '-extfile', "$d/$name.ext");
	chmod 0600, "$d/$name.key";
	return ("$d/$name.crt", "$d/$name.key");
}

# Whether the worker of $node, told to use TLS, can: waits until its log (from byte $from on) says
# it connected over TLS or that it was built without TLS support. The worker connects once it has a
# source.
sub tls_built
{
	my ($node, $from) = @_;
	my $said = qr/connected to Redis at .*over TLS|built without TLS support/;
	CachePusher::Test::poll_until(sub { slurp_file($node->logfile, $from) =~ $said });
	return slurp_file($node->logfile, $from) !~ /built without TLS support/;
}

1;
