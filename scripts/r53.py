"""Reads the Route 53 stand-in with boto3, independently of zoneshift, for scripts and the demo.

Usage: r53.py count ZONE | list ZONE | exists ZONE | zones | register-domain DOMAIN
"""
import os
import sys

import boto3


def client():
    return boto3.client(
        "route53",
        endpoint_url=os.environ["ZS_ROUTE53_ENDPOINT"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )


def records(zone):
    pages = client().get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone)
    for page in pages:
        yield from page["ResourceRecordSets"]


CONTACT = {
    "FirstName": "Zone", "LastName": "Shift", "ContactType": "PERSON",
    "AddressLine1": "1 Example Street", "City": "Example", "CountryCode": "NL",
    "ZipCode": "1000AA", "PhoneNumber": "+31.200000000", "Email": "dns@example.com",
}


def register_domain(domain):
    """Registers DOMAIN with moto's Route 53 Domains (idempotent), as a registrar account would
    hold it."""
    d = boto3.client("route53domains", endpoint_url=os.environ["ZS_ROUTE53_ENDPOINT"], region_name="us-east-1")
    try:
        d.get_domain_detail(DomainName=domain)
    except Exception:
        d.register_domain(DomainName=domain, DurationInYears=2, AdminContact=CONTACT,
                          RegistrantContact=CONTACT, TechContact=CONTACT)
    # The nameservers are left as moto registers them: moto keeps every finished operation
    # and refuses a second UpdateDomainNameservers for the domain for the life of the process,
    # so an update here would leave zoneshift's own request refused.


def main(argv):
    cmd = argv[1]
    if cmd == "register-domain":
        register_domain(argv[2])
        return 0
    if cmd == "zones":
        for z in client().list_hosted_zones()["HostedZones"]:
            print(z["Id"].split("/")[-1], z["Name"], z.get("ResourceRecordSetCount"))
        return 0
    zone = argv[2]
    if cmd == "exists":
        try:
            client().get_hosted_zone(Id=zone)
            print("yes")
        except client().exceptions.NoSuchHostedZone:
            print("no")
        return 0
    # The apex SOA and NS belong to Route 53; the rest is what zoneshift manages.
    apex = client().get_hosted_zone(Id=zone)["HostedZone"]["Name"]
    managed = [r for r in records(zone) if not (r["Name"] == apex and r["Type"] in ("SOA", "NS"))]
    if cmd == "count":
        print(len(managed))
    elif cmd == "list":
        for r in records(zone):
            # moto nests the apex SOA's value one level deeper than Route 53 does.
            values = [v["Value"]["Value"] if isinstance(v["Value"], dict) else v["Value"]
                      for v in r.get("ResourceRecords", [])]
            if "AliasTarget" in r:
                values = ["ALIAS " + r["AliasTarget"]["DNSName"]]
            ident = f" [{r['SetIdentifier']}]" if "SetIdentifier" in r else ""
            ttl = r.get("TTL", "-")
            print(f"{r['Name']:<45} {r['Type']:<6} {ttl!s:>6}{ident}  {' | '.join(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
