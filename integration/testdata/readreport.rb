# Reads a last_run_report.yaml the way a Ruby report consumer does: revive the
# tagged Puppet::Transaction::Report, then rebuild it with Puppet's own
# Report.from_data_hash, and print what it found.
require 'puppet'
text = File.read(ARGV[0])
obj = YAML.respond_to?(:unsafe_load) ? YAML.unsafe_load(text) : YAML.load(text)
raise "not a report: #{obj.class}" unless obj.is_a?(Puppet::Transaction::Report)
hash = {}
obj.instance_variables.each { |iv| hash[iv.to_s.delete('@')] = obj.instance_variable_get(iv) }
r = Puppet::Transaction::Report.from_data_hash(hash)
events = r.resource_statuses.values.map { |s| s.events.size }.sum
puts "status=#{r.status} resources=#{r.resource_statuses.size} logs=#{r.logs.size} " \
     "changes=#{r.metrics['changes']['total']} events=#{events}"
