"""Citizen and business login over SAML 2.0: Servicekonto Sachsen-Anhalt, BundID and Mein
Unternehmenskonto, with an identity-provider sandbox. See README.md."""
