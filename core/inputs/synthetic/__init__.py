"""The generators of the embedded default data: the ShopSphere-like customer table
(:mod:`.shopsphere`) and order log (:mod:`.shopsphere_log`)."""
