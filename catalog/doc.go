// Package catalog reads catalogs compiled by Puppet (catalog_format 1 and 2, plain JSON
// and rich_data_json) into plain Go values. It knows the file format only: what the
// resources mean is the business of package translate.
package catalog
