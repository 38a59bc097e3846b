# One Redis master, its replicas (two by default) and one Sentinel watching them, each a real redis-server started by
# the test (the Sentinel is `redis-server --sentinel`). Reads like one Redis to the tests' checks
# (port: the Sentinel's; all_under: the current master's keys) and can fail the master over.
package CachePusher::RedisSentinel;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep time);
use CachePusher::Redis;

sub new
{
	my ($class, %opts) = @_;
	my $name = $opts{name} // 'mymaster';
	# With tls => { cert, key, ca }, every node has a TLS port, replication runs over it, and the
	# Sentinel watches (and names) those ports, itself answering on its plain port.
	my $tls = $opts{tls};
	my $master = CachePusher::Redis->new(tls => $tls);
	my @replicas =
	  map { CachePusher::Redis->new(tls => $tls, args => [ '--replicaof', '127.0.0.1', $master->worker_port ]) }
	  1 .. ($opts{replicas} // 2);
	my $dir = PostgreSQL::Test::Utils::tempdir('sentinel');
	my $config = "$dir/sentinel.conf";
	# A master that stops answering for 3 s is failed over; the Sentinel rewrites this file. Not 1 s:
	# the Sentinel PINGs once a second, and 1 s after a failover it judged the new master down (which
	# answered again 80 ms later) and failed over a second time: 022 failed 1 run in 3 that way.
	append_to_file($config, <<"CONF");
sentinel monitor $name 127.0.0.1 @{[ $master->worker_port ]} 1
sentinel down-after-milliseconds $name 3000
sentinel failover-timeout $name 5000
CONF
	append_to_file($config, "tls-replication yes\ntls-cert-file $tls->{cert}\ntls-key-file $tls->{key}\n"
		  . "tls-ca-cert-file $tls->{ca}\n") if $tls;
	my $sentinel = CachePusher::Redis->new(dir => $dir, config => $config, sentinel => 1);
	my $self = bless { name => $name, nodes => [ $master, @replicas ], sentinel => $sentinel }, $class;
	$self->wait_for_replicas($master) or die 'the Sentinel did not find the replicas';
	return $self;
}

# Polls until the Sentinel knows every live replica of $master and each one has synchronized.
sub wait_for_replicas
{
	my ($self, $master, $seconds) = @_;
	my $deadline = time + ($seconds // 60);
	my @replicas = grep { $_ != $master && defined $_->{pid} } $self->nodes;
	while (time < $deadline)
	{
		my $known = eval { $self->{sentinel}->command('SENTINEL', 'REPLICAS', $self->{name}) } // [];
		my $synced = grep {
			(eval { $_->command('INFO', 'replication') } // '') =~
			  /role:slave.*master_port:@{[ $master->worker_port ]}.*master_link_status:up/s
		} @replicas;
		return 1 if @$known >= @replicas && $synced == @replicas;
		usleep(50_000);
	}
	return 0;
}

sub port { return $_[0]->{sentinel}->port; }
sub name { return $_[0]->{name}; }
sub sentinel { return $_[0]->{sentinel}; }
sub nodes { return @{ $_[0]->{nodes} }; }

# The node the Sentinel names master now.
sub master
{
	my ($self) = @_;
	my $address = $self->{sentinel}->command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', $self->{name});
	my ($master) = grep { $_->worker_port == $address->[1] } $self->nodes;
	return $master;
}

sub all_under { my ($self, $prefix) = @_; return $self->master->all_under($prefix); }

# Polls until the Sentinel names a master other than $old that says it is a master.
sub wait_for_new_master
{
	my ($self, $old, $seconds) = @_;
	my $deadline = time + ($seconds // 60);
	while (time < $deadline)
	{
		my $master = eval { $self->master };
		return $master
		  if $master && $master != $old && (eval { $master->command('ROLE')->[0] } // '') eq 'master';
		usleep(50_000);
	}
	return undef;
}

1;
