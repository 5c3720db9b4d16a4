print("offsite")
