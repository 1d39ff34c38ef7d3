window.YTD.account.part0 = [
  {
    "account" : {
      "email" : "comms@academy.example.org",
      "createdVia" : "web",
      "username" : "nwacademy",
      "accountId" : "1200000000000000001",
      "createdAt" : "2015-03-02T10:11:12.000Z",
      "accountDisplayName" : "North West Leadership Academy"
    }
  }
]
